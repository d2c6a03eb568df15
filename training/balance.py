"""Rebalancing: what share of the loss each class gets during training.

Two levers, and their combination:
- class weights (the "balanced" formula n / (k * n_c)): every example still seen at its natural
  rate, minority examples count more in the loss. Helps recall; with few minority images the
  gradient is noisy and the model can swing between "all positive" and "nothing positive".
- oversampling: the tf.data stream draws classes at a target mix (uniform here), so the
  minority class's images are repeated (and, with augmentation, varied).
- oversample+class_weight: oversample halfway (draw rates proportional to sqrt(n_c)) and let
  class weights correct the rest, so fewer repeats of the same few images are needed.
- deferred: photos seen at their natural rate, unweighted, for the first ``DEFER_SHARE`` of the
  epochs, so the features are learned from every photo as often as the folder has it; then the
  oversample+class_weight mix for the rest ("deferred re-balancing", Cao et al. 2019, LDAM-DRW).
- logit_adjust: photos seen at their natural rate, unweighted; the loss adds log(prior) to each
  class's logit (Menon et al. 2021, "Long-tail learning via logit adjustment"), so the model's own
  logits learn the balanced decision without repeating the few photos of a small class.

``effective_mix`` is the share of the loss each class carries: sampling rate x weight, normalised.
It is printed and saved so the user sees what the model was actually trained on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BalancePlan:
    strategy: str
    raw_mix: list[float]  # class shares in the training split
    sampling_mix: list[float]  # class shares drawn by the input pipeline
    class_weights: list[float]  # loss weight per class
    effective_mix: list[float]  # share of the loss per class

    def to_dict(self, classes: list[str]) -> dict:
        named = {k: dict(zip(classes, v)) if isinstance(v, list) else v for k, v in asdict(self).items()}
        return named

    @property
    def oversample(self) -> bool:
        return self.strategy.startswith("oversample") or self.deferred

    @property
    def deferred(self) -> bool:
        """Natural sampling first (``natural_plan``), this plan's mix from ``defer_epoch`` on."""
        return self.strategy == "deferred"

    def natural_plan(self) -> "BalancePlan":
        k = len(self.raw_mix)
        return BalancePlan("none", self.raw_mix, self.raw_mix, [1.0] * k, self.raw_mix)

    @property
    def logit_adjusted(self) -> bool:
        return self.strategy == "logit_adjust"


DEFER_SHARE = 2 / 3  # --balance deferred: the share of the epochs trained on the natural mix


def defer_epoch(epochs: int) -> int:
    """The epoch (0-based) from which a deferred plan rebalances: at least one epoch of each."""
    return min(max(1, round(epochs * DEFER_SHARE)), max(1, epochs - 1))


def _normalise(values: list[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values]


def plan_balance(strategy: str, class_counts: list[int]) -> BalancePlan:
    """The sampling mix and class weights for a strategy, given training counts per class."""
    if any(n <= 0 for n in class_counts):
        raise ValueError(f"every class needs training images, got counts {class_counts}")
    k = len(class_counts)
    n = sum(class_counts)
    raw = [c / n for c in class_counts]
    if strategy == "none":
        sampling, weights = raw, [1.0] * k
    elif strategy == "class_weight":
        sampling, weights = raw, [n / (k * c) for c in class_counts]
    elif strategy == "oversample":
        sampling, weights = [1.0 / k] * k, [1.0] * k
    elif strategy == "oversample+class_weight":
        sampling = _normalise([math.sqrt(c) for c in class_counts])
        # weights such that sampling * weight is uniform, scaled to mean loss weight 1
        inverse = [1.0 / (k * s) for s in sampling]
        weights = inverse
    elif strategy == "deferred":
        later = plan_balance("oversample+class_weight", class_counts)
        return BalancePlan(strategy, raw, later.sampling_mix, later.class_weights, later.effective_mix)
    elif strategy == "logit_adjust":
        sampling, weights = raw, [1.0] * k
        return BalancePlan(strategy, raw, sampling, weights, [1.0 / k] * k)  # balanced by the loss's offset
    else:
        raise ValueError(f"unknown balance strategy {strategy!r}")
    effective = _normalise([s * w for s, w in zip(sampling, weights)])
    return BalancePlan(strategy, raw, sampling, weights, effective)


def format_plan(plan: BalancePlan, classes: list[str]) -> str:
    parts = []
    for i, cls in enumerate(classes):
        parts.append(
            f"{cls} {plan.raw_mix[i]:.1%} of photos -> drawn {plan.sampling_mix[i]:.1%} x weight "
            f"{plan.class_weights[i]:.2f} = {plan.effective_mix[i]:.1%} of the loss"
        )
    if plan.deferred:
        parts = [f"{cls} {plan.raw_mix[i]:.1%} of photos, drawn as they are at first; from epoch "
                 f"{DEFER_SHARE:.0%} of the way: drawn {plan.sampling_mix[i]:.1%} x weight "
                 f"{plan.class_weights[i]:.2f} = {plan.effective_mix[i]:.1%} of the loss" for i, cls in enumerate(classes)]
    if plan.logit_adjusted:
        parts = [f"{cls} {plan.raw_mix[i]:.1%} of photos, drawn as they are; log({plan.raw_mix[i]:.3f}) added to its "
                 "logit in the loss, so decisions are balanced" for i, cls in enumerate(classes)]
    return f"Balance: {plan.strategy}\n  " + "\n  ".join(parts)


def initial_bias(plan: BalancePlan, binary: bool) -> list[float]:
    """Output bias from the class priors the model sees, so training starts calibrated
    instead of spending its first epochs learning the class ratio (or exploding on it)."""
    mix = plan.raw_mix if plan.deferred else plan.effective_mix  # deferred: trained on the natural mix first
    eps = 1e-6
    if binary:
        p = min(max(mix[1], eps), 1 - eps)
        return [math.log(p / (1 - p))]
    return [math.log(max(m, eps)) for m in mix]


def tail_offsets(class_counts: list[int], tau: float) -> list[float]:
    """Per-class logit offsets ``tau * log(n_largest / n_class)`` of a multi-class decision: a class
    with fewer training photos gets a head start, the largest none (post-hoc logit adjustment, Menon
    et al. 2021). Rebalanced training equalises each class's share of the loss, but a small class's
    few photos are memorised, so on photos it has not seen the model still under-calls it (the long
    tail's smallest class: docs/quality.md). ``tau`` 0 leaves the decision as trained."""
    if any(n <= 0 for n in class_counts):
        raise ValueError(f"every class needs training images, got counts {class_counts}")
    largest = max(class_counts)
    return [tau * math.log(largest / n) if tau else 0.0 for n in class_counts]


def describe_tail_adjust(record: dict) -> str:
    """One line for the terminal and report.md: which classes got how much of a head start."""
    tau = record.get("tau", 0.0)
    if not tau:
        return ("Decision: the top class (argmax), no head start for small classes (--tail-adjust 0; on the long-tail "
                "benchmark the default 0.75 found more of the smallest class, recall +0.08 to +0.14, at the cost of "
                "some of the others' photos, accuracy -0.003 to -0.02: docs/quality.md)")
    counts = record.get("train_counts", {})
    boosted = sorted(((o, c) for c, o in record["offsets"].items() if o), reverse=True)
    parts = ", ".join(f"{c} +{o:.2f} ({counts.get(c, '?')} photos)" for o, c in boosted)
    return (f"Decision: the top class after a head start for smaller classes (--tail-adjust {tau:g}: "
            f"{tau:g} x log(largest class / class) added to the logit): {parts}")


def describe_head_norm(record: dict) -> str:
    """One line for the terminal and report.md of a run trained with ``--head-norm G`` (G > 0): what was done
    to the classifier's weights, and their lengths as trained."""
    lengths = ", ".join(f"{c} {n:.2f}" for c, n in (record.get("norms") or {}).items())
    exponent = record["exponent"]
    return (f"Head: each class's weights divided by their length{'' if exponent == 1 else f' ** {exponent:g}'} "
            f"(--head-norm {exponent:g}), so a class that rebalancing pushed hard does not win on length alone "
            f"(as trained: {lengths})")
