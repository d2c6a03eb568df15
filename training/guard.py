"""The tiny-class guard: say loudly when a class was not learned.

Eight training photos of hot dogs once gave a model no better than chance, and nothing said so.
A class is flagged when the validation split cannot tell its photos apart from the others better
than chance: the bootstrap interval of its PR-AUC (average precision, one class against the rest)
reaches down to the class's own share of the validation photos, which is what a random ranking
scores. That test needs ``MIN_VAL_PHOTOS`` validation photos of the class to mean anything: with 3
to 5 the interval reaches chance for classes the model did learn (on the quality benchmark it fired
on 2 of 3 long-tail runs whose 16-photo class reached test recall 0.24-0.36). Very few photos alone also flag it: fewer than ``MIN_PHOTOS`` for training and validation
together (what the user put in the folder, less the test photos). On the quality benchmark a class
of 14 such photos trained from scratch reached test F1 0.39-0.52 against 0.65-0.72 with 45
(docs/quality.md). The warning names the class, its photo count,
roughly how many more it needs, and the other way out (a pretrained backbone).
"""

from __future__ import annotations

import numpy as np

from seefood.photo_advice import ENOUGH_PHOTOS, MIN_PHOTOS  # noqa: F401 (MIN_PHOTOS: also for tests)
from seefood.scoring import average_precision
from training.threshold import bootstrap

RESAMPLES = 200
LOWER_PERCENTILE = 5  # the interval is the 5th..95th percentile of resampled PR-AUCs
MIN_VAL_PHOTOS = 10  # validation photos of a class needed to judge it against chance
PRETRAINED_HINT = "--model mobilenet_v3_small --weights imagenet (or --weights /path/to/weights.h5 offline)"


def pr_auc_interval(scores: np.ndarray, positive: np.ndarray, seed: int = 0) -> tuple[float, float] | None:
    """5th and 95th percentile of average precision over bootstrap resamples (None: too few photos)."""
    positive = np.asarray(positive, dtype=bool)
    if positive.sum() == 0 or positive.all():
        return None
    values = bootstrap(scores, positive, lambda s, y: average_precision(y, s), RESAMPLES, seed)
    if not len(values):
        return None
    return float(np.percentile(values, LOWER_PERCENTILE)), float(np.percentile(values, 100 - LOWER_PERCENTILE))


def tiny_class_warnings(scores: np.ndarray, labels: np.ndarray, classes: list[str], binary: bool,
                        photo_counts: dict[str, int]) -> list[dict]:
    """One machine-readable warning per class that was not learned (empty when all were).

    ``scores``/``labels`` are the validation split's (binary scores are P(positive)); for a binary
    task only the positive class is judged (the negative class is "everything else").
    ``photo_counts``: each class's training + validation photos."""
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
        photos = int(photo_counts.get(cls, 0))
        judged = interval is not None and positive.sum() >= MIN_VAL_PHOTOS
        chance = judged and interval[0] <= rate
        if not (chance or photos < MIN_PHOTOS):
            continue
        if chance:
            finding = (f"class '{cls}' was not learned: on validation it is not told apart better than chance (PR-AUC "
                       f"{interval[0]:.2f}-{interval[1]:.2f} over resamples, chance is {rate:.2f})")
        else:
            finding = (f"class '{cls}' is not reliably learned: fewer than {MIN_PHOTOS} photos is too few to learn from "
                       "scratch")
        more = max(ENOUGH_PHOTOS - photos, 10)
        warnings.append({
            "code": "tiny_class",
            "class": cls,
            "photos": photos,
            "val_photos": int(positive.sum()),
            "val_pr_auc_interval": list(interval) if interval else None,
            "chance_pr_auc": rate,
            "more_photos_needed": more,
            "message": (f"{finding}; it has {photos} photos for training and validation. Add about {more} more "
                        f"photos of '{cls}' (aim for {ENOUGH_PHOTOS}+), or start from a pretrained model: {PRETRAINED_HINT}"),
        })
    return warnings
