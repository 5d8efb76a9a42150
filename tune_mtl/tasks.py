"""Tasks: what each output of a multi-task model predicts, and every name derived from it.

A `Task` is one output of the user's model: its name (the output's name), its kind
(``classification``, ``binary`` or ``regression``), its class names, and its loss. From the task
alone follow the metric a trial reports for it (accuracy, maximised; or mean absolute error,
minimised), the column names of trials.csv and pareto.csv (``val_item_accuracy``,
``test_size_mae``), and the objective's direction. No other module spells a metric's column.

The reference value of a task (the hypervolume's reference point, and the zero of the
scheduler's score) is what a constant predictor scores on the validation split: the accuracy of
always answering the training split's most frequent class, or the mean absolute error of always
answering the training split's median. So a regression task and a 10-class task weigh in on equal
terms: each counts from "learned nothing".

Pure Python and numpy; no Keras, Ray or Optuna.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tune_mtl.errors import TuneMtlError

__all__ = [
    "KINDS",
    "Task",
    "column",
    "score",
    "SCORE_COLUMN",
]

KINDS = ("classification", "binary", "regression")
REGRESSION_LOSSES = ("mse", "huber")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# ASHA's single number: the mean of each objective task's improvement over its constant predictor.
SCORE_COLUMN = "val_score"


@dataclass(frozen=True)
class Task:
    """One task of a multi-task model: the model has one output of this name.

    Args:
        name: the model output's name; letters, digits and underscores, starting with a letter.
        kind: ``classification`` (one softmax unit per class, integer labels 0..n-1),
            ``binary`` (one sigmoid unit, labels 0 and 1) or ``regression`` (one linear unit).
        classes: class names of a classification task, in label order; a binary task may name
            its two classes (default ``("0", "1")``).
        loss: for regression, ``mse`` (default) or ``huber``; classification tasks take
            cross-entropy.
    """

    name: str
    kind: str = "classification"
    classes: tuple[str, ...] = ()
    loss: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise TuneMtlError(
                f"task name {self.name!r} is not usable as an output name; use letters, digits "
                "and underscores, starting with a letter (e.g. 'size_cm')."
            )
        if self.kind not in KINDS:
            raise TuneMtlError(
                f"task {self.name!r} has kind {self.kind!r}; choose one of {', '.join(KINDS)}."
            )
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if self.kind == "classification" and len(self.classes) < 2:
            raise TuneMtlError(
                f"classification task {self.name!r} needs at least 2 class names in `classes`, "
                f"but got {list(self.classes)}; pass classes=[...] in label order."
            )
        if self.kind == "binary":
            if not self.classes:
                object.__setattr__(self, "classes", ("0", "1"))
            if len(self.classes) != 2:
                raise TuneMtlError(
                    f"binary task {self.name!r} takes exactly 2 class names, "
                    f"but got {list(self.classes)}."
                )
        if self.kind == "regression":
            if self.classes:
                raise TuneMtlError(
                    f"regression task {self.name!r} takes no classes, but got "
                    f"{list(self.classes)}; drop `classes` or use kind='classification'."
                )
            if self.loss is None:
                object.__setattr__(self, "loss", "mse")
            if self.loss not in REGRESSION_LOSSES:
                raise TuneMtlError(
                    f"regression task {self.name!r} has loss {self.loss!r}; choose one of "
                    f"{', '.join(REGRESSION_LOSSES)}."
                )
        elif self.loss is not None:
            raise TuneMtlError(
                f"{self.kind} task {self.name!r} takes cross-entropy; drop loss={self.loss!r}."
            )

    @property
    def is_classifier(self) -> bool:
        return self.kind != "regression"

    @property
    def metric(self) -> str:
        """The metric reported for this task: ``accuracy`` or ``mae``."""
        return "accuracy" if self.is_classifier else "mae"

    @property
    def direction(self) -> str:
        """``max`` for accuracy, ``min`` for mean absolute error."""
        return "max" if self.is_classifier else "min"

    @property
    def sign(self) -> float:
        """+1 when larger is better, -1 when smaller is: multiplies values into maximised ones."""
        return 1.0 if self.direction == "max" else -1.0

    @property
    def units(self) -> int:
        """Units of the output layer: one per class, or one."""
        return len(self.classes) if self.kind == "classification" else 1

    @property
    def label(self) -> str:
        """How a person reads the metric: ``item accuracy``, ``size MAE``."""
        return f"{self.name} {'accuracy' if self.is_classifier else 'MAE'}"

    def column(self, split: str = "val") -> str:
        """The metric's column for ``split`` (``val``, ``test`` or ``train``)."""
        return column(self.name, self.metric, split)

    def reference(self, train_labels: np.ndarray, val_labels: np.ndarray) -> float:
        """What a constant predictor fitted on ``train_labels`` scores on ``val_labels``."""
        if self.is_classifier:
            values, counts = np.unique(train_labels, return_counts=True)
            majority = values[np.argmax(counts)]
            return float(np.mean(val_labels == majority))
        median = float(np.median(train_labels))
        return float(np.mean(np.abs(np.asarray(val_labels, dtype=float) - median)))

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "classes": list(self.classes),
                "loss": self.loss}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Task:
        return cls(
            name=str(data["name"]),
            kind=str(data.get("kind", "classification")),
            classes=tuple(data.get("classes") or ()),  # type: ignore[arg-type]
            loss=data.get("loss"),  # type: ignore[arg-type]
        )


def column(task: str, metric: str, split: str = "val") -> str:
    """``val_item_accuracy``: Keras's own name for a dict output's metric, with the split."""
    return f"{task}_{metric}" if split == "train" else f"{split}_{task}_{metric}"


def score(values: Sequence[float], tasks: Sequence[Task], references: Sequence[float]) -> float:
    """Mean improvement over the constant predictor, 0 for it and 1 for a perfect model.

    Accuracy ``a`` with reference ``r`` scores ``(a - r) / (1 - r)``; a mean absolute error ``e``
    scores ``(r - e) / r``, the share of the constant predictor's error removed. So accuracy and
    MAE mix on one scale, which is what ASHA ranks trials on.
    """
    parts = []
    for value, task, reference in zip(values, tasks, references, strict=True):
        if task.direction == "max":
            room = 1.0 - reference
            parts.append((value - reference) / room if room > 0 else 0.0)
        else:
            parts.append((reference - value) / reference if reference > 0 else -value)
    return float(np.mean(parts))
