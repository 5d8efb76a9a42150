"""summary.json: what a finished search was and what it found, as one typed record.

Written by `tune_mtl.outcome` and read by every later command (pareto, report, export); nothing
else reads the file. The tasks carry their kind, metric, direction and reference value, so a
reader needs nothing but this file and the two CSV tables.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tune_mtl.objectives import Objectives

__all__ = ["Summary"]


@dataclass(frozen=True)
class Summary:
    """A finished search's summary.

    Attributes:
        name: the search's folder name.
        data: the data set (a built-in name or the loader's import string).
        model: the model builder (a built-in name or its import string).
        options: every setting the search ran with, as ``search.json`` holds them.
        tasks: each task with kind, classes, metric, direction and reference value.
        objectives: the tasks whose validation metric is an objective.
        constraints: per constrained task, its ``min`` and ``max``.
        params: trials.csv's hyperparameter columns (searched, constant, and loss weights).
        scheduler_metric: what the early-stopping scheduler ranks on; None without one.
        status_counts: trials per status.
        front_size: trials on the front.
        hypervolume_reference: the constant predictors' value per objective.
        hypervolume_val: the front's hypervolume on validation metrics.
        hypervolume_test: the same on the test split.
        hypervolume_test_loss: the hypervolume of the front's test losses of the objective tasks
            below the reference point of a loss of 2 per task (`tune_mtl.results.loss_hypervolume`,
            as Multi-Fashion's papers report it); None when an objective is a regression task.
        knee_trial_id: the front's knee; None for an empty front.
        repeats: runs per candidate; above 1 the front's metrics are means over the runs, with
            their spread in ``*_std`` columns and every run in repeats.csv.
        repeat_seconds: how long the extra runs took; None without them.
        weightings_on_front: front members per loss weighting strategy (`tune_mtl.weighting`),
            for a search whose space has ``weighting``; None otherwise.
        wall_seconds: from the first trial's launch (after loading the data and starting Ray)
            to the results written; for a search resumed after Ctrl-C, with the time it ran
            before.
        experiment_path: where Ray keeps the experiment.
        versions: of tune-mtl, Python and the libraries.
    """

    name: str
    data: str | None
    model: str | None
    options: dict[str, Any]
    tasks: list[dict[str, Any]]
    objectives: list[str]
    constraints: dict[str, dict[str, float | None]]
    params: list[str]
    scheduler_metric: str | list[str] | None
    status_counts: dict[str, int]
    front_size: int
    hypervolume_reference: list[float]
    hypervolume_val: float
    hypervolume_test: float
    knee_trial_id: str | None
    wall_seconds: float
    experiment_path: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    hypervolume_test_loss: float | None = None
    repeats: int = 1
    repeat_seconds: float | None = None
    weightings_on_front: dict[str, int] | None = None

    @property
    def task_objectives(self) -> Objectives:
        return Objectives.from_dict(asdict(self))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Summary:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
