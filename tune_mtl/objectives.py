"""What a search optimises: which tasks are objectives, which are constraints, and their references.

`Objectives` is the one place that turns tasks into the columns Optuna and the schedulers read,
their directions, the hypervolume's reference point, the feasibility of a trial, and the values the
Pareto math takes (every objective turned into one to maximise). Pure numpy and pandas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tune_mtl.errors import TuneMtlError
from tune_mtl.tasks import SCORE_COLUMN, Task, score

__all__ = ["Constraint", "Objectives"]


@dataclass(frozen=True)
class Constraint:
    """A task whose validation metric must stay within bounds instead of being optimised."""

    task: str
    min: float | None = None
    max: float | None = None

    def violation(self, value: float | None) -> float:
        """How far ``value`` is outside the bounds; <= 0 when it satisfies them (Optuna's rule)."""
        if value is None or not math.isfinite(value):
            return math.inf
        below = self.min - value if self.min is not None else -math.inf
        above = value - self.max if self.max is not None else -math.inf
        return float(max(below, above))

    def describe(self) -> str:
        bounds = [f">= {self.min:g}" if self.min is not None else "",
                  f"<= {self.max:g}" if self.max is not None else ""]  # fmt: skip
        return f"{self.task} {' and '.join(b for b in bounds if b)}"


@dataclass(frozen=True)
class Objectives:
    """The tasks of a search, their reference values, and how each enters the search.

    Args:
        tasks: every task, in the model's order.
        references: per task, what a constant predictor scores on validation.
        objectives: names of the tasks whose validation metric is an objective (default: all
            tasks that are not constraints).
        constraints: tasks that must stay within bounds; a trial outside them is infeasible.
    """

    tasks: tuple[Task, ...]
    references: tuple[float, ...]
    objectives: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        names = [task.name for task in self.tasks]
        if len(set(names)) != len(names):
            raise TuneMtlError(f"task names must differ, but got {names}; rename the repeated one.")
        constrained = [c.task for c in self.constraints]
        for name in [*self.objectives, *constrained]:
            if name not in names:
                raise TuneMtlError(
                    f"`{name}` in the search space's objectives or constraints is not a task; "
                    f"the tasks are {', '.join(names)}."
                )
        for constraint in self.constraints:
            task = self.tasks[names.index(constraint.task)]
            worse = "min" if task.direction == "min" else "max"
            better = "max" if worse == "min" else "min"
            if getattr(constraint, better) is None:
                bound = getattr(constraint, worse)
                raise TuneMtlError(
                    f"constraints: {constraint.task}: {{{worse}: {bound:g}}} bounds its "
                    f"{task.metric} from {'below' if worse == 'min' else 'above'}, but "
                    f"{task.metric} is {'minimised' if worse == 'min' else 'maximised'}, so only "
                    f"worse models would pass; write {{{better}: {bound:g}}}."
                )
            _check_in_range(constraint, task)
        both = sorted(set(self.objectives) & set(constrained))
        if both:
            raise TuneMtlError(
                f"task `{both[0]}` is both an objective and a constraint; list it in one of them."
            )
        if not self.objectives:
            free = tuple(name for name in names if name not in constrained)
            object.__setattr__(self, "objectives", free)
        if not self.objectives:
            raise TuneMtlError(
                "every task is a constraint, so nothing is optimised; leave at least one task "
                "out of `constraints`."
            )

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)

    def task(self, name: str) -> Task:
        return self.tasks[self.task_names.index(name)]

    def reference(self, name: str) -> float:
        return self.references[self.task_names.index(name)]

    @property
    def objective_tasks(self) -> tuple[Task, ...]:
        return tuple(self.task(name) for name in self.objectives)

    def columns(self, split: str = "val") -> list[str]:
        """The objectives' metric columns, e.g. ``["val_item_accuracy", "val_size_mae"]``."""
        return [task.column(split) for task in self.objective_tasks]

    def all_columns(self, split: str = "val") -> list[str]:
        """Every task's metric column, objectives and constraints alike."""
        return [task.column(split) for task in self.tasks]

    @property
    def modes(self) -> list[str]:
        return [task.direction for task in self.objective_tasks]

    @property
    def signs(self) -> np.ndarray:
        return np.array([task.sign for task in self.objective_tasks])

    @property
    def reference_point(self) -> np.ndarray:
        """The hypervolume's reference point in maximised values (minimised ones negated)."""
        return np.array([self.reference(n) for n in self.objectives]) * self.signs

    def maximised(self, frame: pd.DataFrame, split: str = "val") -> np.ndarray:
        """The objectives of each row as an ``(n, n_objectives)`` array where larger is better."""
        return frame[self.columns(split)].to_numpy(dtype=float) * self.signs

    def violations(self, metrics: Mapping[str, Any]) -> list[float]:
        """Each constraint's violation for one trial's validation metrics (<= 0: satisfied)."""
        return [c.violation(metrics.get(self.task(c.task).column("val"))) for c in self.constraints]

    def feasible(self, frame: pd.DataFrame) -> np.ndarray:
        """Marks the rows whose validation metrics satisfy every constraint."""
        if not self.constraints or frame.empty:
            return np.ones(len(frame), dtype=bool)
        rows = frame.to_dict(orient="records")
        return np.array([max(self.violations(row)) <= 0 for row in rows], dtype=bool)

    def score(self, metrics: Mapping[str, float]) -> float:
        """ASHA's scalar for one epoch's metrics: see `tune_mtl.tasks.score`."""
        tasks = self.objective_tasks
        values = [float(metrics[task.column("val")]) for task in tasks]
        return score(values, tasks, [self.reference(task.name) for task in tasks])

    @property
    def score_column(self) -> str:
        return SCORE_COLUMN

    def to_dict(self) -> dict[str, Any]:
        """The summary's view: tasks with reference and role, objectives and constraints."""
        return {
            "tasks": [
                {
                    **task.to_dict(),
                    "metric": task.metric,
                    "direction": task.direction,
                    "reference": reference,
                }  # fmt: skip
                for task, reference in zip(self.tasks, self.references, strict=True)
            ],
            "objectives": list(self.objectives),
            "constraints": {c.task: {"min": c.min, "max": c.max} for c in self.constraints},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Objectives:
        tasks = tuple(Task.from_dict(task) for task in data["tasks"])
        return cls(
            tasks=tasks,
            references=tuple(float(task["reference"]) for task in data["tasks"]),
            objectives=tuple(data.get("objectives", ())),
            constraints=tuple(
                Constraint(name, bounds.get("min"), bounds.get("max"))
                for name, bounds in data.get("constraints", {}).items()
            ),
        )

    @classmethod
    def for_tasks(
        cls,
        tasks: Sequence[Task],
        references: Sequence[float],
        *,
        objectives: Sequence[str] = (),
        constraints: Mapping[str, Mapping[str, float]] | None = None,
    ) -> Objectives:
        return cls(
            tasks=tuple(tasks),
            references=tuple(float(r) for r in references),
            objectives=tuple(objectives),
            constraints=tuple(
                Constraint(name, bounds.get("min"), bounds.get("max"))
                for name, bounds in (constraints or {}).items()
            ),
        )


def _check_in_range(constraint: Constraint, task: Task) -> None:
    """A bound that no model can meet (an accuracy above 1, say, written as a percentage) is
    refused before anything trains."""
    high = 1.0 if task.kind == "classification" else math.inf
    for side in ("min", "max"):
        bound = getattr(constraint, side)
        if bound is None or 0 <= bound <= high:
            continue
        percent = task.kind == "classification" and 1 < bound <= 100
        fix = f"write {{{side}: {bound / 100:g}}}" if percent else "write a bound within it"
        raise TuneMtlError(
            f"constraints: {constraint.task}: {{{side}: {bound:g}}} is outside the range of "
            f"{task.metric}, {'0 to 1' if high == 1 else '0 or more'}; {fix}."
        )
