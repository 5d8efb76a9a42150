"""The end of a search: Ray's trials become trials.csv, the front is tested, the summary written."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
from ray import tune

from tune_mtl import __version__
from tune_mtl.cluster import Storage
from tune_mtl.errors import SearchInterrupted, TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.options import SearchOptions
from tune_mtl.problem import Problem
from tune_mtl.progress import error_line
from tune_mtl.results import (
    FINISHED,
    SearchResult,
    front_of,
    hypervolume_of,
    loss_hypervolume_of,
    trial_status,
    write_results,
)
from tune_mtl.scheduling import scheduler_metric
from tune_mtl.summary import Summary
from tune_mtl.trial_files import MODEL_FILE
from tune_mtl.weights import loss_weights, weight_columns

__all__ = ["finish", "interrupted"]


def interrupted(statuses: pd.Series, *, trials: int, budget_spent: bool) -> bool:
    """Whether a search stopped before its end, so that `resume` must continue it.

    A trial still running, pending or paused in Ray's saved state means the driver stopped
    (Ctrl-C). Fewer trials than asked is a normal end only when the time budget ran out.
    """
    if statuses.isin(["running", "pending", "paused"]).any():
        return True
    finished = statuses.isin(FINISHED).sum()
    return bool(finished < trials and not budget_spent)


def _best(history: pd.DataFrame, column: str, direction: str) -> float:
    if column not in history:
        return np.nan
    return float(history[column].max() if direction == "max" else history[column].min())


def _trials_frame(
    analysis: tune.ExperimentAnalysis,
    options: SearchOptions,
    params: list[str],
    objectives: Objectives,
) -> pd.DataFrame:
    # Ray's own `node_ip` result is the address a worker guesses; the node id is exact.
    node_ips = {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes()}
    rows = []
    for trial in analysis.trials:
        last = trial.last_result
        history = analysis.trial_dataframes.get(trial.trial_id, pd.DataFrame())
        epochs = last.get("training_iteration", 0)
        row: dict[str, Any] = {
            "trial_id": trial.trial_id,
            "status": trial_status(trial.status, epochs=epochs, max_epochs=options.max_epochs),
        }
        row.update({name: trial.config.get(name) for name in params})
        weights = loss_weights(trial.config, objectives.task_names)
        row.update(zip(weight_columns(objectives.task_names), weights.values(), strict=True))
        row["epochs"] = epochs
        for task in objectives.tasks:
            column = task.column("val")
            row[column] = last.get(column, np.nan)
            row[f"best_{column}"] = _best(history, column, task.direction)
        if objectives.constraints:
            row["feasible"] = bool(last) and max(objectives.violations(last)) <= 0
        row["seconds"] = last.get("time_total_s", np.nan)
        row["node_id"] = last.get("node_id", "")
        row["node_ip"] = node_ips.get(row["node_id"], "")
        factory = trial.placement_group_factory
        resources: dict[str, float] = factory.required_resources if factory is not None else {}
        row["cpus"] = resources.get("CPU", 0.0)
        row["gpus"] = resources.get("GPU", 0.0)
        row["failures"] = trial.num_failures
        row["error"] = error_line(trial)
        rows.append(row)
    return pd.DataFrame(rows)


def _evaluate_front(
    front: pd.DataFrame, analysis: tune.ExperimentAnalysis, problem: Problem
) -> pd.DataFrame:
    """Evaluates each front member's last checkpoint once on the test split."""
    import keras

    from tune_mtl.training import evaluate

    trials = {trial.trial_id: trial for trial in analysis.trials}
    rows = []
    for trial_id in front["trial_id"]:
        checkpoint = trials[trial_id].checkpoint
        if checkpoint is None:
            raise TuneMtlError(
                f"trial {trial_id} completed but left no checkpoint in {trials[trial_id].path}."
            )
        with checkpoint.as_directory() as directory:
            model = keras.models.load_model(Path(directory) / MODEL_FILE)
        rows.append(evaluate(model, problem.dataset.test, problem.objectives.tasks))
        keras.backend.clear_session()
    tested = pd.DataFrame(rows, index=front.index)
    return pd.concat([front, tested], axis=1) if len(tested.columns) else front


def _versions() -> dict[str, str]:
    import keras
    import optuna
    import tensorflow

    return {
        "tune_mtl": __version__,
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "ray": ray.__version__,
        "optuna": optuna.__version__,
    }


def finish(
    options: SearchOptions,
    storage: Storage,
    problem: Problem,
    *,
    started: float,
    budget_spent: bool,
    echo: Callable[[str], Any],
) -> SearchResult:
    """Turns the finished experiment into trials.csv, pareto.csv and summary.json."""
    from tune_mtl import tensorboard_log

    experiment_dir = options.results / options.name
    objectives = problem.objectives
    analysis = tune.ExperimentAnalysis(
        storage.experiment_path(options.name), storage_filesystem=storage.filesystem
    )
    params = [*problem.space.params, *problem.space.constants]
    trials_table = _trials_frame(analysis, options, params, objectives)
    if trials_table.empty and budget_spent:
        raise TuneMtlError(
            f"the time budget of {options.time_budget_s:g} s ran out before any trial started; "
            "pass a larger --time-budget."
        )
    finished = trials_table["status"].isin(FINISHED).sum()
    if interrupted(trials_table["status"], trials=options.trials, budget_spent=budget_spent):
        raise SearchInterrupted(
            f"search interrupted with {finished} of {options.trials} trials finished; its state "
            f"is saved. Resume it with: tune-mtl search --resume {experiment_dir}"
        )
    echo("Evaluating the front on the test split ...")
    front = _evaluate_front(front_of(trials_table, objectives), analysis, problem)
    tensorboard_log.write_trial_ends(
        experiment_dir / tensorboard_log.TENSORBOARD_DIR,
        trials_table,
        front,
        objectives=objectives,
    )
    settings = json.loads(options.to_json())
    summary = Summary(
        name=options.name,
        data=options.data,
        model=options.model,
        options=settings,
        **objectives.to_dict(),
        params=[*params, *weight_columns(objectives.task_names)],
        scheduler_metric=scheduler_metric(options, objectives),
        status_counts={str(k): int(v) for k, v in trials_table["status"].value_counts().items()},
        front_size=len(front),
        hypervolume_reference=[objectives.reference(name) for name in objectives.objectives],
        hypervolume_val=hypervolume_of(front, objectives, "val"),
        hypervolume_test=hypervolume_of(front, objectives, "test"),
        knee_trial_id=str(front.loc[front["knee"], "trial_id"].iloc[0]) if len(front) else None,
        wall_seconds=time.perf_counter() - started,
        experiment_path=storage.location(options.name),
        versions=_versions(),
        hypervolume_test_loss=loss_hypervolume_of(front, objectives),
    )
    return write_results(experiment_dir, trials_table, front, summary)
