"""Which question the model answers: binary (positive class vs the rest) or multi-class."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from training.dataset import DataError


@dataclass(frozen=True)
class Task:
    kind: str  # "binary" or "multiclass"
    classes: list[str]  # decision classes; binary: [negative, positive]
    positive: str | None
    class_map: dict[str, int]  # folder class -> index in classes

    @property
    def labels(self) -> list[str]:
        """Model output labels: binary models have one sigmoid output for the positive class."""
        return [self.positive] if self.kind == "binary" else list(self.classes)

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict:
        return asdict(self)


def define_task(folder_classes: list[str], train_counts: dict[str, int], positive: str | None) -> Task:
    """Binary when --positive is given or there are exactly two classes; multi-class otherwise.

    With two folders and no --positive, the minority class (fewest training images) is the
    positive one: it is the class people care about finding (the hotdog, not the not-hotdog).
    """
    if positive is not None:
        if positive not in folder_classes:
            raise DataError(f"--positive {positive!r} is not a class folder; classes are: {', '.join(folder_classes)}")
        others = [c for c in folder_classes if c != positive]
        negative = others[0] if len(others) == 1 else f"not_{positive}"
        class_map = {c: (1 if c == positive else 0) for c in folder_classes}
        return Task("binary", [negative, positive], positive, class_map)
    if len(folder_classes) == 2:
        a, b = folder_classes
        minority = b if train_counts.get(b, 0) < train_counts.get(a, 0) else a
        if train_counts.get(a, 0) == train_counts.get(b, 0):
            minority = b if not b.startswith("not") else a
        negative = a if minority == b else b
        return Task("binary", [negative, minority], minority, {negative: 0, minority: 1})
    return Task("multiclass", list(folder_classes), None, {c: i for i, c in enumerate(folder_classes)})
