"""Every option of a training run, in one dataclass saved as RUN_DIR/config.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from seefood.errors import InputError

MODELS = ("small_cnn", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")
AUGMENTS = ("none", "light", "strong")
BALANCES = ("none", "class_weight", "oversample", "oversample+class_weight", "deferred", "logit_adjust")
LOSSES = ("crossentropy", "focal")
DEFAULT_IMAGE_SIZE = {"small_cnn": 128, "mobilenet_v3_small": 224, "mobilenet_v3_large": 224, "efficientnet_b0": 224}


# Photos seen in training when --epochs is 0 (auto). 12,000 (30-35 epochs on the benchmark's 100-480 photo
# tasks) -> 24,000 (60): binary F1 0.587 -> 0.612, PR-AUC 0.610 -> 0.645 over 4 sets x 3 seeds (docs/quality.md).
BUDGET_IMAGES = 24_000
# Multi-class head start for smaller classes: on 60-epoch runs 0.75 raised the long tail's smallest-class
# recall 0.363 -> 0.442 and macro-F1 on 11 of 12 runs; trained as the default itself (12 runs): recall 0.407,
# macro-F1 0.586 -> 0.614 (docs/quality.md, "The default since 2026-12-06"). On a held-out long tail with other
# classes in each role, against no head start: recall 0.472 -> 0.567 on 12 of 12 runs, macro-F1 0.613 -> 0.611;
# 1.25 lost macro-F1 there (0.578), so 0.75 stays (docs/quality.md, "A held-out check of the head start").
DEFAULT_TAIL_ADJUST = 0.75
# Multi-class target smoothing (--label-smoothing): the true class's target is 1 - s + s/K instead of 1. 0.1 passed
# a rule fixed before its runs on the long tail (smallest-class recall 0.407 -> 0.467 over 12 runs, macro-F1 -0.007)
# and failed a guard fixed before its runs, on the held-out long tail (macro-F1 0.611 -> 0.583, lower on 9 of 12): it
# acts as a stronger head start, the trade --tail-adjust 1.25 lost there too. So it is off by default
# (docs/quality.md, "Two regularisers for the memorised smallest class").
DEFAULT_LABEL_SMOOTHING = 0.0
# Multi-class: each class's output weights divided by their length ** G after training (--head-norm G). Rebalanced
# training gives the long tail's smallest class the longest weights. G = 1 failed its held-out rule (macro-F1 0.589 ->
# 0.582 on longtail2); G = 0.75 was chosen on longtail + longtail2 (smallest-class recall 0.417 -> 0.445 and 0.548 ->
# 0.573, macro-F1 +0.003 and -0.004) and passed a rule fixed before its runs on a third cast, longtail3 (12 runs:
# recall 0.518 -> 0.552, 8 up and none down; macro-F1 0.600 -> 0.598; smallest-class F1 0.524 -> 0.532)
# (docs/quality.md, "A milder normalisation on a third cast").
DEFAULT_HEAD_NORM = 0.75
MIN_EPOCHS, MAX_EPOCHS = 30, 60  # 15 epochs on food5 at 1:8 (1,434 training photos): test F1 0.68; 30: 0.75


def auto_epochs(train_photos: int) -> int:
    """The epoch budget for a folder: about BUDGET_IMAGES photos seen, within MIN..MAX epochs.
    A fixed budget with a cosine schedule, not a noisy stopping rule, decides when training ends."""
    wanted = -(-BUDGET_IMAGES // max(1, train_photos))
    return max(MIN_EPOCHS, min(MAX_EPOCHS, wanted))


@dataclass
class TrainConfig:
    """Options of ``seefood train``.

    data_dir: ``DATA_DIR/<class>/*`` or ``DATA_DIR/{train,val,test}/<class>/*`` (val/test optional).
    out: the run folder to create.
    model: backbone; ``small_cnn`` trains from scratch on a CPU, the others are keras.applications.
    weights: ``none``, ``imagenet`` (downloaded, or found in the Keras cache) or a path to a weights file.
    image_size: square input side; 0 picks the backbone's default.
    balance: how the minority class is given a fair share of the loss (see training/balance.py).
        The default is the recipe that measured best in docs/compare-food5.md.
    loss: ``crossentropy`` or ``focal`` (focal loss down-weights easy examples).
    positive: binary task, this class against all other classes merged ("hotdog / not hotdog").
        A folder with exactly two classes defaults to its minority class.
    threshold_objective: ``f1``, ``recall>=X`` or ``precision>=X``; chosen on validation data.
    threshold_folds: K > 1 trains K more models on folds of train+val and chooses the binary threshold
        on their out-of-fold scores (training/folds.py). On the quality benchmark it was steadier than the
        validation split alone but not than the default rule (docs/quality.md), at K more trainings.
    val_fraction, test_fraction: share of each class held out, assigned by content hash so that
        adding photos never moves an existing validation or test photo into training.
    seed: model initialisation and shuffling.
    split_seed: the seed of the validation/test split; None uses ``seed``. ``seefood compare``
        fixes it while varying ``seed`` so that every repeat is judged on the same photos.
    mixed_precision: ``auto`` (on when a GPU is present), ``on`` or ``off``.
    distribute: ``auto`` (TF_CONFIG → multi-worker, several GPUs → mirrored), ``mirrored``, ``none``.
    init_from: an earlier run folder whose weights start this run (after adding photos).
    epochs: the training budget; 0 (default) sets it from the folder's size (``auto_epochs``: about
        ``BUDGET_IMAGES`` photos seen, ``MIN_EPOCHS`` to ``MAX_EPOCHS`` epochs). The learning rate warms
        up for one epoch, then follows a cosine down to zero, and the final weights are kept.
    learning_rate: the peak of that schedule (AdamW, decoupled ``weight_decay``).
    mixup: alpha of mixup (each training photo blended with another of its batch, lambda ~ Beta(alpha,
        alpha)); 0 (default) turns it off: 0.4 lowered the long tail's smallest-class recall (docs/quality.md).
    cutmix: alpha of CutMix (half of each batch's photos get a box of another photo of the batch pasted in, area
        share 1 - lambda, lambda ~ Beta(alpha, alpha); targets blended by the area); 0 (default) turns it off.
        Not combined with ``mixup``.
    tail_adjust: multi-class decisions give each class a head start of ``tail_adjust * log(n_largest /
        n_class)`` on its logit (``training.balance.tail_offsets``), folded into the saved model's output
        bias, so export, the app and phones decide alike. Rebalanced training still under-calls a small class
        on photos it has not seen (its few photos are memorised); the default 0.75 was chosen on two photo
        sets and confirmed on two others (docs/quality.md); 0 decides by plain argmax. Binary tasks have
        their threshold instead and ignore it.
    head_norm: multi-class: after training, each class's weights in the output layer are divided by their
        length ** ``head_norm`` (``training.fitting.apply_head_norm``), folded into the saved model like the
        head start. The default 0.75 was chosen on two long-tail casts and confirmed on a third: more of the
        smallest class found at level macro-F1; 0 keeps them as trained, 1 finds more for some macro-F1
        (docs/quality.md). Binary tasks have their threshold instead and ignore it.
    label_smoothing: multi-class training targets become ``1 - s + s/K`` for the true class and ``s/K`` for the
        others (K classes), also in the validation loss. Binary tasks ignore it: their threshold is chosen on
        validation scores anyway.
    patience: 0 (default) trains the whole budget. N > 0 adds early stopping on the validation
        metric that cannot fire in the first half of the budget and restores the best epoch. On a
        small validation split that metric is noisy (PR-AUC 0.82 -> 0.74 -> 0.40 -> 0.72 on
        consecutive epochs with 24 positives): stopping on it kept an under-trained epoch 2.
    fine_tune_epochs: for transfer backbones, epochs after unfreezing (the frozen phase takes the rest).
    """

    data_dir: str
    out: str
    model: str = "small_cnn"
    weights: str = "none"
    image_size: int = 0
    epochs: int = 0
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    augment: str = "strong"
    mixup: float = 0.0
    cutmix: float = 0.0
    tail_adjust: float = DEFAULT_TAIL_ADJUST
    head_norm: float = DEFAULT_HEAD_NORM
    label_smoothing: float = DEFAULT_LABEL_SMOOTHING
    balance: str = "oversample+class_weight"
    loss: str = "crossentropy"
    positive: str | None = None
    threshold_objective: str = "f1"
    threshold_folds: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 1337
    split_seed: int | None = None
    mixed_precision: str = "auto"
    distribute: str = "auto"
    init_from: str | None = None
    patience: int = 0
    fine_tune_epochs: int = 0
    min_image_side: int = 32
    force: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InputError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.augment not in AUGMENTS:
            raise InputError(f"--augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        if self.balance not in BALANCES:
            raise InputError(f"--balance must be one of {', '.join(BALANCES)}, got {self.balance!r}")
        if self.loss not in LOSSES:
            raise InputError(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.loss == "focal" and self.balance == "logit_adjust":
            raise InputError("--loss focal and --balance logit_adjust cannot be combined; choose one")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise InputError("--val-fraction and --test-fraction must be in [0, 1) and sum to less than 1")
        if self.image_size == 0:
            self.image_size = DEFAULT_IMAGE_SIZE[self.model]
        if self.image_size < 32:
            raise InputError(f"--image-size must be at least 32, got {self.image_size}")
        if self.epochs < 0 or self.batch_size < 1 or self.patience < 0:
            raise InputError("--epochs and --patience must be 0 or more (0: automatic / off), --batch-size at least 1")
        if self.threshold_folds < 0 or self.threshold_folds == 1 or self.threshold_folds > 10:
            raise InputError(f"--threshold-folds must be 0 (off) or 2 to 10, got {self.threshold_folds}")
        if not 0 <= self.mixup <= 10:
            raise InputError(f"--mixup is the Beta(alpha, alpha) of the blend, 0 (off) to 10, got {self.mixup}")
        if not 0 <= self.cutmix <= 10:
            raise InputError(f"--cutmix is the Beta(alpha, alpha) of the pasted area, 0 (off) to 10, got {self.cutmix}")
        if self.mixup and self.cutmix:
            raise InputError("--mixup and --cutmix each mix a batch's photos in pairs; choose one")
        if not 0 <= self.tail_adjust <= 3:
            raise InputError(f"--tail-adjust must be 0 (off) to 3, got {self.tail_adjust}")
        if not 0 <= self.head_norm <= 2:
            raise InputError(f"--head-norm must be 0 (off) to 2, got {self.head_norm}")
        if not 0 <= self.label_smoothing < 0.5:
            raise InputError(f"--label-smoothing must be 0 (off) to below 0.5, got {self.label_smoothing}")
        if not (self.learning_rate > 0 and self.weight_decay >= 0):
            raise InputError("--learning-rate must be positive and --weight-decay not negative")

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        from training.run_io import write_json_atomic

        write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """A saved run's options. An option the file predates takes the value that reproduces what
        that run did (``SAVED_BEFORE``), not today's default: a retrain continues the run as it was."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        names = {f.name for f in fields(cls)}
        return cls(**{**SAVED_BEFORE, **{k: v for k, v in data.items() if k in names}})


# Options added after runs were already saved, with the value that reproduces those runs.
SAVED_BEFORE = {"tail_adjust": 0.0, "label_smoothing": 0.0, "head_norm": 0.0, "cutmix": 0.0}
