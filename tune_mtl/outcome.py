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
from tune_mtl.data import Dataset
from tune_mtl.errors import SearchInterrupted, TuneMtlError
from tune_mtl.options import SearchOptions
from tune_mtl.progress import error_line
from tune_mtl.results import (
    TEST_OBJECTIVES,
    VAL_OBJECTIVES,
    SearchResult,
    front_of,
    hypervolume_of,
    write_results,
)
from tune_mtl.scheduling import scheduler_metric
from tune_mtl.space import SearchSpace

__all__ = ["finish", "interrupted"]


def _trial_status(trial: Any, max_epochs: int) -> str:
    if trial.status == "ERROR":
        return "failed"
    if trial.status == "TERMINATED":
        epochs = trial.last_result.get("training_iteration", 0)
        return "completed" if epochs >= max_epochs else "stopped"
    return trial.status.lower()


def interrupted(statuses: pd.Series, *, trials: int, budget_spent: bool) -> bool:
    """Whether a search stopped before its end, so that `resume` must continue it.

    A trial still running, pending or paused in Ray's saved state means the driver stopped
    (Ctrl-C). Fewer trials than asked is a normal end only when the time budget ran out.
    """
    if statuses.isin(["running", "pending", "paused"]).any():
        return True
    finished = statuses.isin(["completed", "stopped", "failed"]).sum()
    return bool(finished < trials and not budget_spent)


def _trials_frame(
    analysis: tune.ExperimentAnalysis, options: SearchOptions, params: list[str]
) -> pd.DataFrame:
    # Ray's own `node_ip` result is the address a worker guesses; the node id is exact.
    node_ips = {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes()}
    rows = []
    for trial in analysis.trials:
        last = trial.last_result
        history = analysis.trial_dataframes.get(trial.trial_id, pd.DataFrame())
        row: dict[str, Any] = {
            "trial_id": trial.trial_id,
            "status": _trial_status(trial, options.max_epochs),
        }
        row.update({name: trial.config.get(name) for name in params})
        row["epochs"] = last.get("training_iteration", 0)
        for column in VAL_OBJECTIVES:
            row[column] = last.get(column, np.nan)
            row[f"best_{column}"] = history[column].max() if column in history else np.nan
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
    front: pd.DataFrame, analysis: tune.ExperimentAnalysis, dataset: Dataset
) -> pd.DataFrame:
    """Evaluates each front member's last checkpoint once on the test split."""
    import keras

    from tune_mtl.trainable import MODEL_FILE
    from tune_mtl.training import evaluate_accuracies

    trials = {trial.trial_id: trial for trial in analysis.trials}
    accuracies = []
    for trial_id in front["trial_id"]:
        checkpoint = trials[trial_id].checkpoint
        if checkpoint is None:
            raise TuneMtlError(
                f"trial {trial_id} completed but left no checkpoint in {trials[trial_id].path}."
            )
        with checkpoint.as_directory() as directory:
            model = keras.models.load_model(Path(directory) / MODEL_FILE)
        accuracies.append(evaluate_accuracies(model, dataset.test))
        keras.backend.clear_session()
    front = front.copy()
    front[TEST_OBJECTIVES] = np.array(accuracies).reshape(-1, 2)
    return front


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
    space_file: SearchSpace,
    data: Dataset,
    *,
    started: float,
    budget_spent: bool,
    echo: Callable[[str], Any],
) -> SearchResult:
    """Turns the finished experiment into trials.csv, pareto.csv and summary.json."""
    from tune_mtl import tensorboard_log

    experiment_dir = options.results / options.name
    analysis = tune.ExperimentAnalysis(
        storage.experiment_path(options.name), storage_filesystem=storage.filesystem
    )
    params = [*space_file.params, *space_file.constants]
    trials_table = _trials_frame(analysis, options, params)
    if trials_table.empty and budget_spent:
        raise TuneMtlError(
            f"the time budget of {options.time_budget_s:g} s ran out before any trial started; "
            "pass a larger --time-budget."
        )
    finished = trials_table["status"].isin(["completed", "stopped", "failed"]).sum()
    if interrupted(trials_table["status"], trials=options.trials, budget_spent=budget_spent):
        raise SearchInterrupted(
            f"search interrupted with {finished} of {options.trials} trials finished; its state "
            f"is saved. Resume it with: tune-mtl search --resume {experiment_dir}"
        )
    echo("Evaluating the front on the test split ...")
    chance = data.chance
    front = _evaluate_front(front_of(trials_table, chance), analysis, data)
    tensorboard_log.write_trial_ends(
        experiment_dir / tensorboard_log.TENSORBOARD_DIR,
        trials_table,
        front,
        task_names=data.task_names,
    )
    summary = {
        **json.loads(options.to_json()),
        "experiment_path": storage.location(options.name),
        "tasks": [
            {"name": t.name, "classes": list(t.class_names), "chance_accuracy": t.chance_accuracy}
            for t in data.tasks
        ],
        "params": params,
        "scheduler_metric": scheduler_metric(options),
        "status_counts": trials_table["status"].value_counts().to_dict(),
        "front_size": len(front),
        "hypervolume_reference": list(chance),
        "hypervolume_test": hypervolume_of(front, TEST_OBJECTIVES, chance),
        "hypervolume_val": hypervolume_of(front, VAL_OBJECTIVES, chance),
        "knee_trial_id": front.loc[front["knee"], "trial_id"].iloc[0] if len(front) else None,
        "wall_seconds": time.perf_counter() - started,
        "versions": _versions(),
    }
    return write_results(experiment_dir, trials_table, front, summary)
