"""What every data set is: inputs, one label array per task, and the tasks, split three ways.

`Dataset.from_arrays` is how a user hands tune-mtl their own data; the built-in data sets use it
too. Everything is checked there, once, and any problem is one line naming the split, the task and
the fix. The validation split is carved from train (seeded, stratified on the first
classification task) unless one is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Union

import numpy as np

from tune_mtl.errors import TuneMtlError
from tune_mtl.tasks import Task

__all__ = ["Inputs", "Split", "Dataset", "stratified_split"]

Inputs = Union[np.ndarray, dict[str, np.ndarray]]
ArraysAndLabels = tuple[Any, Mapping[str, Any]]


def _input_arrays(inputs: Inputs) -> dict[str, np.ndarray]:
    return inputs if isinstance(inputs, dict) else {"": inputs}


@dataclass(frozen=True)
class Split:
    """Inputs (one array, or a dict of arrays for a multi-input model) and labels per task."""

    inputs: Inputs
    labels: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.labels.values())))

    def take(self, indices: np.ndarray) -> Split:
        inputs = (
            {name: array[indices] for name, array in self.inputs.items()}
            if isinstance(self.inputs, dict)
            else self.inputs[indices]
        )
        return Split(inputs, {name: labels[indices] for name, labels in self.labels.items()})

    def head(self, count: int) -> Split:
        return self.take(np.arange(min(count, len(self))))

    def __repr__(self) -> str:
        """The shapes and dtypes, not the arrays (a notebook shows this for a split)."""
        arrays = _input_arrays(self.inputs)
        shapes = ", ".join(
            f"{name + ': ' if name else ''}{array.shape} {array.dtype}"
            for name, array in arrays.items()
        )
        return f"Split({len(self)} examples; inputs {shapes}; labels {', '.join(self.labels)})"


def _check_split(name: str, given: Any, tasks: Sequence[Task]) -> Split:
    if not isinstance(given, (tuple, list)) or len(given) != 2:
        raise TuneMtlError(
            f"`{name}` must be a pair (inputs, labels), but got {type(given).__name__}; "
            f"pass {name}=(x, {{'task': y, ...}})."
        )
    raw_inputs, raw_labels = given
    if isinstance(raw_inputs, Mapping):
        if not raw_inputs:
            raise TuneMtlError(f"`{name}` inputs are an empty dict; pass at least one array.")
        inputs: Inputs = {str(key): np.asarray(value) for key, value in raw_inputs.items()}
    else:
        inputs = np.asarray(raw_inputs)
    if not isinstance(raw_labels, Mapping):
        raise TuneMtlError(
            f"`{name}` labels must be a dict keyed by task name, but got "
            f"{type(raw_labels).__name__}; pass {{'{tasks[0].name}': y, ...}}."
        )
    names = [task.name for task in tasks]
    for key in raw_labels:
        if key not in names:
            raise TuneMtlError(
                f"`{name}` has labels for {key!r}, which is not a task ({', '.join(names)}); "
                f"add Task({key!r}, ...) to tasks or drop those labels."
            )
    labels = {}
    for task in tasks:
        if task.name not in raw_labels:
            raise TuneMtlError(
                f"task {task.name!r} has no labels in `{name}`; add labels[{task.name!r}] "
                f"with one value per example."
            )
        labels[task.name] = _check_labels(name, task, raw_labels[task.name])
    lengths = {f"labels[{key!r}]": len(value) for key, value in labels.items()}
    for key, array in _input_arrays(inputs).items():
        if array.ndim == 0:
            raise TuneMtlError(f"`{name}` inputs{f'[{key!r}]' if key else ''} is a scalar; "
                               "pass one row per example.")  # fmt: skip
        where = f"inputs[{key!r}]" if key else "inputs"
        lengths[where] = len(array)
        if np.issubdtype(array.dtype, np.inexact):
            _refuse_non_finite(f"`{name}` {where}", array)
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{key} {length}" for key, length in lengths.items())
        raise TuneMtlError(
            f"`{name}` arrays differ in length ({shown}); give every array one row per example."
        )
    if next(iter(lengths.values())) == 0:
        raise TuneMtlError(f"`{name}` has no examples; pass at least one.")
    return Split(inputs, labels)


def _refuse_non_finite(where: str, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(array), -1).any(axis=1))[0])
        raise TuneMtlError(
            f"{where} holds {int(bad.sum())} NaN or infinite values (first at row {row}); drop "
            "or fill those examples."
        )


def _refuse_constant(task: Task, labels: np.ndarray) -> None:
    """Training labels that are all the same teach a task nothing."""
    values = np.unique(labels)
    if len(values) > 1:
        return
    if task.is_classifier:
        raise TuneMtlError(
            f"`train` labels[{task.name!r}] are all class {values[0]} "
            f"({task.classes[int(values[0])]}); a task learns from examples of at least 2 "
            "classes: fix its labels or drop the task."
        )
    raise TuneMtlError(
        f"`train` labels[{task.name!r}] are all {values[0]:g}; a regression task learns from "
        "targets that vary: fix its labels or drop the task."
    )


def _check_labels(split: str, task: Task, raw: Any) -> np.ndarray:
    where = f"`{split}` labels[{task.name!r}]"
    try:
        values = np.asarray(raw, dtype=float)
    except (TypeError, ValueError) as error:
        fix = (
            f"pass class indices 0..{len(task.classes) - 1}, in the order of the task's classes"
            if task.is_classifier
            else "pass a numeric array"
        )
        raise TuneMtlError(f"{where} are not numbers ({error}); {fix}.") from error
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise TuneMtlError(
            f"{where} has shape {values.shape}; pass one value per example, shape (n,)."
        )
    _refuse_non_finite(where, values)
    if not task.is_classifier:
        return values.astype(np.float32)
    outside = (values != np.round(values)) | (values < 0) | (values >= len(task.classes))
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise TuneMtlError(
            f"{where} holds {values[row]:g} at row {row}, outside the task's classes "
            f"0..{len(task.classes) - 1} ({', '.join(task.classes[:4])}"
            f"{', ...' if len(task.classes) > 4 else ''}); labels are class indices."
        )
    return values.astype(np.int64)


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits with their tasks.

    The validation split chooses everything (trials, the front, the knee); the test split is only
    used to report the front's models. ``val`` is None until carved by `with_validation`.
    """

    tasks: tuple[Task, ...]
    train: Split
    test: Split
    val: Split | None = None
    name: str = "custom"

    @classmethod
    def from_arrays(
        cls,
        *,
        train: ArraysAndLabels,
        test: ArraysAndLabels,
        tasks: Sequence[Task],
        val: ArraysAndLabels | None = None,
        name: str = "custom",
    ) -> Dataset:
        """Checks and wraps arrays: ``train=(x, {"item": y_item, "size": y_size})``, likewise
        ``test`` (and ``val``, else carved from train when the search starts).

        ``x`` is one array of any shape (first axis: examples) or a dict of arrays for a model with
        several inputs, keyed by input name. Labels are class indices for classification and
        binary tasks, numbers for regression tasks.
        """
        tasks = tuple(tasks)
        if len(tasks) < 2:
            raise TuneMtlError(
                f"`tasks` holds {len(tasks)} task(s); a multi-task search needs at least 2."
            )
        for task in tasks:
            if not isinstance(task, Task):
                raise TuneMtlError(
                    f"`tasks` holds {task!r}; pass tune_mtl.Task objects, e.g. Task('item', "
                    "classes=[...])."
                )
        names = [task.name for task in tasks]
        if len(set(names)) != len(names):
            raise TuneMtlError(f"task names must differ, but got {names}; rename the repeated one.")
        splits = {"train": train, "test": test} | ({"val": val} if val is not None else {})
        checked = {key: _check_split(key, value, tasks) for key, value in splits.items()}
        for task in tasks:
            _refuse_constant(task, checked["train"].labels[task.name])
        shapes = {key: _shapes(split.inputs) for key, split in checked.items()}
        if len({repr(shape) for shape in shapes.values()}) > 1:
            shown = "; ".join(f"{key} {shape}" for key, shape in shapes.items())
            raise TuneMtlError(
                f"inputs differ in shape between splits ({shown}); give every split the same "
                "per-example shape and input names."
            )
        return cls(tasks, checked["train"], checked["test"], checked.get("val"), name)

    def with_validation(self, *, fraction: float = 0.1, seed: int = 0) -> Dataset:
        """Carves a seeded validation split from train, stratified on the first classification
        task; a data set that has one already is returned unchanged."""
        if self.val is not None:
            return self
        if int(round(fraction * len(self.train))) < 1 or len(self.train) < 2:
            raise TuneMtlError(
                f"train holds {len(self.train)} examples, too few to hold out "
                f"{fraction:.0%} for validation; pass more data or a `val` split."
            )
        classifier = next((task for task in self.tasks if task.is_classifier), None)
        strata = (
            self.train.labels[classifier.name]
            if classifier is not None
            else np.zeros(len(self.train), dtype=np.int64)
        )
        kept, held_out = stratified_split(strata, fraction=fraction, seed=seed)
        return replace(self, train=self.train.take(kept), val=self.train.take(held_out))

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)

    @property
    def references(self) -> tuple[float, ...]:
        """Per task, what a constant predictor fitted on train scores on validation."""
        if self.val is None:
            raise ValueError("the data set has no validation split yet; call with_validation.")
        val = self.val
        references = tuple(
            task.reference(self.train.labels[task.name], val.labels[task.name])
            for task in self.tasks
        )
        for task, reference in zip(self.tasks, references, strict=True):
            if (reference >= 1.0) if task.is_classifier else (reference <= 0.0):
                metric = task.label.rsplit(" ", 1)[1]
                raise TuneMtlError(
                    f"task {task.name!r}: a constant prediction already scores {metric} "
                    f"{reference:g} on the {len(val)} validation examples, so no model can do "
                    "better; give the validation split varied labels (more examples, or a `val` "
                    "split of your own)."
                )
        return references

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}: {self.describe()})"

    def describe(self) -> str:
        """One line: the split sizes and the tasks."""
        tasks = ", ".join(
            f"{task.name} ({len(task.classes)} classes)"
            if task.kind == "classification"
            else f"{task.name} ({task.kind})"
            for task in self.tasks
        )
        val = f"{len(self.val)} validation, " if self.val is not None else ""
        return f"{len(self.train)} train, {val}{len(self.test)} test examples; tasks {tasks}"


def _shapes(inputs: Inputs) -> dict[str, tuple[int, ...]]:
    return {key: tuple(array.shape[1:]) for key, array in _input_arrays(inputs).items()}


def stratified_split(
    labels: np.ndarray, *, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Splits indices into (kept, held out) with ``fraction`` of every class held out, seeded."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the validation fraction must be in (0, 1), but got {fraction}.")
    rng = np.random.default_rng(seed)
    held_out = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held_out.append(members[: int(round(fraction * len(members)))])
    held_out_indices = np.sort(np.concatenate(held_out))
    kept = np.setdiff1d(np.arange(len(labels)), held_out_indices, assume_unique=True)
    return kept, held_out_indices
