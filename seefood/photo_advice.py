"""How many photos a class needs: the numbers the tiny-class guard (``training/guard.py``) judges a
trained class by, and the app's capture panel counts against, kept in one place (no TensorFlow).

On the quality benchmark a class of 14 training + validation photos trained from scratch reached
test F1 0.39-0.52, against 0.65-0.72 with 45 (docs/quality.md).
"""

from __future__ import annotations

MIN_PHOTOS = 15  # fewer training + validation photos than this: the guard flags the class whatever validation says
ENOUGH_PHOTOS = 50  # what to aim for when training from scratch


def level(count: int | None) -> str:
    """'unknown', 'too_few' (< MIN_PHOTOS), 'few' (< ENOUGH_PHOTOS) or 'enough'."""
    if count is None:
        return "unknown"
    if count < MIN_PHOTOS:
        return "too_few"
    return "few" if count < ENOUGH_PHOTOS else "enough"


def summary(counts: dict[str, int]) -> str:
    """One line on the folder as it is: which classes the guard would flag, and the aim."""
    if not counts:
        return ""
    too_few = sorted((n, c) for c, n in counts.items() if n < MIN_PHOTOS)
    few = [c for c, n in counts.items() if MIN_PHOTOS <= n < ENOUGH_PHOTOS]
    if too_few:
        listed = ", ".join(f"{c} ({n})" for n, c in too_few[:3]) + (" …" if len(too_few) > 3 else "")
        return (f"{len(too_few)} class(es) under {MIN_PHOTOS} photos, too few to learn: {listed}. "
                f"Aim for {ENOUGH_PHOTOS}+ each.")
    if few:
        return f"Every class has {MIN_PHOTOS}+ photos; {len(few)} under {ENOUGH_PHOTOS}, the aim when training from scratch."
    return f"Every class has {ENOUGH_PHOTOS}+ photos."
