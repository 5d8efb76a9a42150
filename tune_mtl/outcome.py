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
from tune_mtl.errors import TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.options import SearchOptions
from tune_mtl.problem import Problem
from tune_mtl.repeats import aggregate, candidates, mean_column, mean_front, repeat_seeds
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
from tune_mtl.text import counted, error_line
from tune_mtl.trial_files import MODEL_FILE
from tune_mtl.weighting import WEIGHTING_PARAM, final_weights
from tune_mtl.weights import weight_columns

__all__ = ["finish", "interrupted", "Repeat"]

# Trains candidates (trial ID -> configuration) once per seed: `tune_mtl.repeat_runs.run_repeats`.
Repeat = Callable[[dict[str, dict[str, Any]], list[int]], tuple[list[Any], float]]


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
    # Ray's own `node_ip` result is the address a worker guesses; the node id is exact, and this
    # Ray session knows the address of each of its nodes. A trial that ended before a resume ran
    # on a node of an earlier session: its guess is all there is.
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
        # The last epoch's weights: a learned weighting's end point, or the static ones.
        weights = final_weights(trial.config, last, objectives.task_names)
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
        row["node_ip"] = node_ips.get(row["node_id"]) or last.get("node_ip", "")
        factory = trial.placement_group_factory
        resources: dict[str, float] = factory.required_resources if factory is not None else {}
        row["cpus"] = resources.get("CPU", 0.0)
        row["gpus"] = resources.get("GPU", 0.0)
        row["failures"] = trial.num_failures
        row["error"] = error_line(trial.get_error())
        rows.append(row)
    return pd.DataFrame(rows)


def _test_metrics(checkpoint: tune.Checkpoint, problem: Problem) -> dict[str, float]:
    """A checkpoint's model evaluated once on the test split: each task's metric and loss."""
    import keras

    from tune_mtl.training import evaluate

    with checkpoint.as_directory() as directory:
        model = keras.models.load_model(Path(directory) / MODEL_FILE)
    metrics = evaluate(model, problem.dataset.test, problem.objectives.tasks)
    keras.backend.clear_session()
    return metrics


def _checkpoints(
    trial_ids: pd.Series, analysis: tune.ExperimentAnalysis
) -> dict[str, tune.Checkpoint]:
    trials = {trial.trial_id: trial for trial in analysis.trials}
    found = {}
    for trial_id in trial_ids:
        checkpoint = trials[trial_id].checkpoint
        if checkpoint is None:
            raise TuneMtlError(
                f"trial {trial_id} completed but left no checkpoint in {trials[trial_id].path}."
            )
        found[trial_id] = checkpoint
    return found


def _evaluate_front(
    front: pd.DataFrame, analysis: tune.ExperimentAnalysis, problem: Problem
) -> pd.DataFrame:
    """Evaluates each front member's last checkpoint once on the test split."""
    checkpoints = _checkpoints(front["trial_id"], analysis)
    rows = [_test_metrics(checkpoints[trial_id], problem) for trial_id in front["trial_id"]]
    tested = pd.DataFrame(rows, index=front.index)
    return pd.concat([front, tested], axis=1) if len(tested.columns) else front


def _noise_aware_front(
    trials_table: pd.DataFrame,
    analysis: tune.ExperimentAnalysis,
    problem: Problem,
    options: SearchOptions,
    repeat: Repeat,
    echo: Callable[[str], Any],
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The front of the candidates' means over ``options.repeats`` seeds (`tune_mtl.repeats`);
    returns it with every run's metrics and the extra runs' seconds."""
    objectives = problem.objectives
    pool = candidates(trials_table, front_of(trials_table, objectives), objectives)
    trials = {trial.trial_id: trial for trial in analysis.trials}
    configs = {trial_id: dict(trials[trial_id].config) for trial_id in pool["trial_id"]}
    runs, seconds = repeat(configs, repeat_seeds(options.seed, options.repeats))
    echo("Evaluating the candidates' runs on the test split ...")
    val_columns = objectives.all_columns("val")
    checkpoints = _checkpoints(pool["trial_id"], analysis)
    rows = [
        {"trial_id": trial_id, "seed": options.seed,
         **{c: trials[trial_id].last_result.get(c) for c in val_columns},
         **_test_metrics(checkpoints[trial_id], problem)}
        for trial_id in pool["trial_id"]
    ]  # fmt: skip
    rows += [
        {"trial_id": run.trial_id, "seed": run.seed,
         **{c: run.metrics.get(c) for c in val_columns}, **_test_metrics(run.checkpoint, problem)}
        for run in runs
        if run.checkpoint is not None
    ]  # fmt: skip
    runs_table = pd.DataFrame(rows)
    measured = [c for c in runs_table.columns if c not in ("trial_id", "seed")]
    table = aggregate(runs_table, measured)
    # From here on each measured column holds the mean, so that the front, the knee and the
    # hypervolume are taken on the means; the spread is in the *_std columns.
    plain = {mean_column(c): c for c in measured}
    table = table[objectives.feasible(table.rename(columns=plain))]
    means = mean_front(table, objectives).rename(columns=plain)
    own = trials_table.drop(columns=[c for c in measured if c in trials_table.columns])
    front = means[["trial_id"]].merge(own, on="trial_id", how="left").merge(means, on="trial_id")
    return front, runs_table, seconds


def _weightings(front: pd.DataFrame) -> dict[str, int] | None:
    """Front members per loss weighting (`tune_mtl.weighting`); None when it was not searched."""
    if WEIGHTING_PARAM not in front.columns:
        return None
    return {str(k): int(v) for k, v in front[WEIGHTING_PARAM].value_counts().sort_index().items()}


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


def _after_the_budget(
    trials_table: pd.DataFrame, budget: float | None, echo: Callable[[str], Any]
) -> pd.DataFrame:
    """The trials of a search whose time budget ran out, less those it stopped before they
    reported an epoch (most had not started): they trained nothing to judge. Where no trial
    ended an epoch, all are kept, to show what started."""
    if trials_table.empty:
        raise TuneMtlError(
            f"the time budget of {budget:g} s ran out before any trial started; pass a larger "
            "--time-budget."
        )
    unstarted = (trials_table["status"] == "stopped") & (trials_table["epochs"] == 0)
    if unstarted.all():
        echo(f"The time budget of {budget:g} s ran out before any trial ended an epoch.")
        return trials_table
    left = counted(unstarted.sum(), "trial")
    left_out = f"; {left} without an epoch left out" if unstarted.any() else ""
    echo(f"The time budget of {budget:g} s ran out{left_out}.")
    return trials_table[~unstarted].reset_index(drop=True)


def finish(
    options: SearchOptions,
    storage: Storage,
    problem: Problem,
    *,
    started: float,
    budget_spent: bool,
    echo: Callable[[str], Any],
    repeat: Repeat | None = None,
) -> SearchResult:
    """Turns the finished experiment into trials.csv, pareto.csv and summary.json.

    With ``options.repeats`` > 1, ``repeat`` trains the candidates again with more seeds
    (`tune_mtl.repeat_runs.run_repeats`), and the front is chosen on their means; every run's
    metrics go to repeats.csv.
    """
    from tune_mtl import tensorboard_log

    experiment_dir = options.results / options.name
    objectives = problem.objectives
    analysis = tune.ExperimentAnalysis(
        storage.experiment_path(options.name), storage_filesystem=storage.filesystem
    )
    params = [*problem.space.params, *problem.space.constants]
    trials_table = _trials_frame(analysis, options, params, objectives)
    if budget_spent:
        trials_table = _after_the_budget(trials_table, options.time_budget_s, echo)
    finished = trials_table["status"].isin(FINISHED).sum()
    if interrupted(trials_table["status"], trials=options.trials, budget_spent=budget_spent):
        raise options.interrupted(f"{finished} of {options.trials} trials finished")
    runs_table, repeat_seconds = None, None
    if options.repeats > 1 and repeat is not None:
        front, runs_table, repeat_seconds = _noise_aware_front(
            trials_table, analysis, problem, options, repeat, echo
        )
    else:
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
        weightings_on_front=_weightings(front),
        repeats=options.repeats,
        repeat_seconds=repeat_seconds,
    )
    result = write_results(experiment_dir, trials_table, front, summary, runs=runs_table)
    if storage.add_files(experiment_dir, options.name):
        echo(f"Copied the results to {storage.location(options.name)}, beside the checkpoints")
    return result
