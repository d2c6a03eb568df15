"""The tiny-class guard: say loudly when a class was not learned.

Eight training photos of hot dogs once gave a model no better than chance, and nothing said so.
A class is flagged when the validation split cannot tell its photos apart from the others better
than chance: the bootstrap interval of its PR-AUC (average precision, one class against the rest)
reaches down to the class's own share of the validation photos, which is what a random ranking
scores. Very few training photos alone also flag it. The warning names the class, its photo count,
roughly how many more it needs, and the other way out (a pretrained backbone).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

RESAMPLES = 200
LOWER_PERCENTILE = 5  # the interval is the 5th..95th percentile of resampled PR-AUCs
MIN_TRAIN_PHOTOS = 10  # fewer training photos than this is flagged whatever validation says
ENOUGH_PHOTOS = 50  # what to aim for when training from scratch (see docs/quality.md)
PRETRAINED_HINT = "--model mobilenet_v3_small --weights imagenet (or --weights /path/to/weights.h5 offline)"


def pr_auc_interval(scores: np.ndarray, positive: np.ndarray, seed: int = 0) -> tuple[float, float] | None:
    """5th and 95th percentile of average precision over bootstrap resamples (None: too few photos)."""
    positive = np.asarray(positive, dtype=bool)
    if positive.sum() == 0 or positive.all():
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(RESAMPLES):
        pick = rng.integers(0, len(positive), len(positive))
        y = positive[pick]
        if y.any() and not y.all():
            values.append(average_precision_score(y, scores[pick]))
    if not values:
        return None
    return float(np.percentile(values, LOWER_PERCENTILE)), float(np.percentile(values, 100 - LOWER_PERCENTILE))


def tiny_class_warnings(scores: np.ndarray, labels: np.ndarray, classes: list[str], binary: bool,
                        train_counts: dict[str, int]) -> list[dict]:
    """One machine-readable warning per class that was not learned (empty when all were).

    ``scores``/``labels`` are the validation split's (binary scores are P(positive)); for a binary
    task only the positive class is judged (the negative class is "everything else")."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1).astype(int)
    judged = [1] if binary else list(range(len(classes)))
    warnings = []
    for index in judged:
        cls = classes[index]
        class_scores = scores.reshape(-1) if binary else scores[:, index]
        positive = labels == index
        rate = float(positive.mean()) if len(positive) else 0.0
        interval = pr_auc_interval(class_scores, positive)
        photos = int(train_counts.get(cls, 0))
        chance = interval is None or interval[0] <= rate
        if not (chance or photos < MIN_TRAIN_PHOTOS):
            continue
        if interval is None:
            why = f"the validation split has no photos of it to check the model on"
        elif chance:
            why = (f"on validation it is not told apart better than chance (PR-AUC {interval[0]:.2f}-{interval[1]:.2f} "
                   f"over resamples, chance is {rate:.2f})")
        else:
            why = "that is too few to learn a class from scratch"
        more = max(ENOUGH_PHOTOS - photos, 10)
        warnings.append({
            "code": "tiny_class",
            "class": cls,
            "train_photos": photos,
            "val_photos": int(positive.sum()),
            "val_pr_auc_interval": list(interval) if interval else None,
            "chance_pr_auc": rate,
            "more_photos_needed": more,
            "message": (f"class '{cls}' was not learned: {photos} training photos, and {why}. Add about {more} more "
                        f"photos of '{cls}' (aim for {ENOUGH_PHOTOS}+), or start from a pretrained model: {PRETRAINED_HINT}"),
        })
    return warnings
