"""Finished trials as tables: trials.csv, pareto.csv and summary.json, written atomically.

Here live the rules that every reader of a search shares: the file names, which trial counts as
completed (`trial_status`), and which trials form the front (`front_of`). Pure pandas and numpy;
the Pareto math is in `tune_mtl.pareto`, the objectives' columns in `tune_mtl.objectives`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_mtl.errors import TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.pareto import hypervolume, knee_index, pareto_mask
from tune_mtl.repeats import spread_column
from tune_mtl.summary import Summary
from tune_mtl.tasks import column
from tune_mtl.text import counted

__all__ = [
    "SearchResult",
    "front_of",
    "load_results",
    "write_results",
    "replacing",
    "write_atomically",
    "format_front",
    "front_columns",
    "FRONT_FORMATS",
    "hypervolume_of",
    "loss_hypervolume",
    "loss_hypervolume_of",
    "loss_hypervolume_note",
    "LOSS_HYPERVOLUME_REFERENCE",
    "trial_status",
    "why_no_front",
    "FINISHED",
]

TRIALS_FILE = "trials.csv"
PARETO_FILE = "pareto.csv"
SUMMARY_FILE = "summary.json"
REPEATS_FILE = "repeats.csv"  # every run of every candidate, with --repeats
STUDY_FILE = "optuna.journal"  # the Optuna study, beside the tables
SEARCH_FILE = "search.json"  # the options of a search, so that `resume` can rebuild it
# A trial ends completed (trained all its epochs), stopped (early, by the scheduler or the time
# budget) or failed; only completed trials enter the front.
FINISHED = ("completed", "stopped", "failed")


def trial_status(ray_status: str, *, epochs: int, max_epochs: int) -> str:
    """A trial's status in trials.csv, from Ray's status and the epochs it reported."""
    if ray_status == "ERROR":
        return "failed"
    if ray_status == "TERMINATED":
        return "completed" if epochs >= max_epochs else "stopped"
    return ray_status.lower()


@dataclass(frozen=True)
class SearchResult:
    """A finished search: every trial, the Pareto front, and the summary."""

    path: Path
    trials: pd.DataFrame
    pareto: pd.DataFrame
    summary: Summary

    @property
    def objectives(self) -> Objectives:
        """The tasks, their references, objectives and constraints, as the search ran them."""
        return self.summary.task_objectives

    @property
    def knee(self) -> pd.Series:
        """The front member with the best compromise between the tasks."""
        return self.pareto[self.pareto["knee"]].iloc[0]


def front_of(trials: pd.DataFrame, objectives: Objectives) -> pd.DataFrame:
    """Completed, feasible trials that no other such trial beats on every validation objective.

    Sorted by the first objective, best first, with a boolean ``knee`` column (each objective
    scaled from its constant predictor to the front's best).
    """
    candidates = trials[trials["status"] == "completed"]
    candidates = candidates[objectives.feasible(candidates)]
    candidates = candidates.dropna(subset=objectives.columns())
    front = candidates[pareto_mask(objectives.maximised(candidates))]
    ascending = [task.direction == "min" for task in objectives.objective_tasks]
    front = front.sort_values(objectives.columns(), ascending=ascending).reset_index(drop=True)
    front["knee"] = False
    if len(front):
        knee = knee_index(objectives.maximised(front), objectives.reference_point)
        front.loc[knee, "knee"] = True
    return front


def hypervolume_of(front: pd.DataFrame, objectives: Objectives, split: str = "val") -> float:
    """Hypervolume of ``front``'s ``split`` metrics above the constant predictors' point."""
    if not set(objectives.columns(split)) <= set(front.columns):
        return 0.0
    points = objectives.maximised(front, split)
    return hypervolume(points[~np.isnan(points).any(axis=1)], objectives.reference_point)


# Every task's coordinate of the loss hypervolume's reference point.
LOSS_HYPERVOLUME_REFERENCE = 2.0


def loss_hypervolume(losses: np.ndarray | list) -> float:
    """Hypervolume of ``(n_points, n_tasks)`` losses (minimised) below the reference point.

    The reference point is a loss of `LOSS_HYPERVOLUME_REFERENCE` (2) in every task, (2, 2) for
    two, as COSMOS's code (Ruchte & Grabocka, 2021) scores the test cross-entropies of a front on
    Multi-Fashion. One point spans ``(2 - l1) * (2 - l2)``; a point with a loss of 2 or more in
    any task adds nothing. The losses are negated, and the reference with them, because
    `tune_mtl.pareto.hypervolume` maximises.
    """
    points = -np.asarray(losses, dtype=float)
    if points.ndim != 2:
        raise ValueError(f"losses must have shape (n, n_tasks), but got {points.shape}.")
    return hypervolume(points, np.full(points.shape[1], -LOSS_HYPERVOLUME_REFERENCE))


def loss_hypervolume_of(front: pd.DataFrame, objectives: Objectives) -> float | None:
    """`loss_hypervolume` of the front's test losses of the objective tasks (the columns
    ``test_<task>_loss``); None when an objective task is a regression task, whose loss is no
    cross-entropy."""
    tasks = objectives.objective_tasks
    if not all(task.is_classifier for task in tasks):
        return None
    columns = [column(task.name, "loss", "test") for task in tasks]
    if not set(columns) <= set(front.columns):
        return 0.0
    losses = front[columns].to_numpy(dtype=float)
    return loss_hypervolume(losses[~np.isnan(losses).any(axis=1)])


def loss_hypervolume_note(summary: Summary) -> str:
    """``; test loss hypervolume 1.2345 (reference loss 2 per task)`` for a summary that has
    one, else nothing: what the front's table and the report add after the hypervolume."""
    if summary.hypervolume_test_loss is None:
        return ""
    return (
        f"; test loss hypervolume {summary.hypervolume_test_loss:.4f} "
        f"(reference loss {LOSS_HYPERVOLUME_REFERENCE:g} per task)"
    )


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces it when the block ends without an error:
    ``path`` is then whole or as it was. It gets the permissions of a file the user creates
    (mkstemp's are the owner's alone)."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(0o666 & ~umask)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def check_writable(folder: Path) -> None:
    """``folder`` exists (it is created if missing) and takes new files, before anything is
    written there; else one line naming it (a read-only file system, a place such as /proc)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tune-mtl-probe."):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise TuneMtlError(
            f"--out: cannot write into {folder} ({reason}); pass a folder you can write to."
        ) from error


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` whole or not at all (`replacing`)."""
    with replacing(path) as temporary:
        temporary.write_text(text)


def write_results(
    directory: Path,
    trials: pd.DataFrame,
    pareto: pd.DataFrame,
    summary: Summary,
    *,
    runs: pd.DataFrame | None = None,
) -> SearchResult:
    """Writes the three result files into ``directory``; each appears whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / TRIALS_FILE, trials.to_csv(index=False))
    write_atomically(directory / PARETO_FILE, pareto.to_csv(index=False))
    if runs is not None:
        write_atomically(directory / REPEATS_FILE, runs.to_csv(index=False))
    write_atomically(directory / SUMMARY_FILE, summary.to_json())
    return SearchResult(directory, trials, pareto, summary)


def load_results(directory: str | Path) -> SearchResult:
    """Reads a finished search back from its folder."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TuneMtlError(
            f"{directory} is not a folder; pass the folder of a finished search, e.g. results/NAME."
        )
    missing = [n for n in (TRIALS_FILE, PARETO_FILE, SUMMARY_FILE) if not (directory / n).is_file()]
    if missing and (directory / SEARCH_FILE).is_file():
        raise TuneMtlError(
            f"{directory} is a search that has not finished; run `tune-mtl search --resume "
            f"{directory}` to finish it, then try again."
        )
    if missing:
        raise TuneMtlError(
            f"{directory} has no {', '.join(missing)}; pass the folder of a finished search, "
            "e.g. results/NAME."
        )
    return SearchResult(
        directory,
        _read_table(directory / TRIALS_FILE),
        _read_table(directory / PARETO_FILE),
        Summary.from_json((directory / SUMMARY_FILE).read_text()),
    )


# Columns that hold text, as the search wrote them: trial IDs are hex ("00012345" must not become
# the number 12345), and an empty one (no error, say) reads back as "", not NaN.
TEXT_COLUMNS = ("trial_id", "node_id", "node_ip", "error")


def _read_table(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype=dict.fromkeys(TEXT_COLUMNS, str))
    present = [column for column in TEXT_COLUMNS if column in table]
    return table.fillna(dict.fromkeys(present, ""))


FRONT_FORMATS = ("table", "csv", "json")


def front_columns(result: SearchResult) -> list[str]:
    """The front's columns for scripts: as in ``pareto.csv``, less the bookkeeping, the same for
    an empty front. With ``--repeats``, each metric is followed by its spread over the runs, and
    the runs and the members each is tied with come last."""
    objectives = result.objectives
    metrics = [*objectives.all_columns("val"), *objectives.all_columns("test")]
    repeated = [*(spread_column(metric) for metric in metrics), "runs", "tied_with"]
    wanted = ["trial_id", "knee", *result.summary.params,
              *(name for metric in metrics for name in (metric, spread_column(metric))),
              "epochs", "seconds", "runs", "tied_with"]  # fmt: skip
    return [c for c in wanted if c not in repeated or c in result.pareto.columns]


def format_front(result: SearchResult, *, format: str = "table") -> str:
    """The front as text: ``table`` for people, ``csv`` or ``json`` (a list of rows) for scripts.

    The table names the tasks and stars the knee; csv and json keep ``pareto.csv``'s column names
    (``val_item_accuracy``, ``val_size_mae``, ...), with ``knee`` true or false.
    """
    if format not in FRONT_FORMATS:
        raise TuneMtlError(
            f"format {format!r} is not known; choose one of {', '.join(FRONT_FORMATS)}."
        )
    front = result.pareto.reindex(columns=front_columns(result))
    if format == "csv":
        return front.to_csv(index=False).rstrip("\n")
    if format == "json":
        rows = front.astype(object).where(front.notna(), None).to_dict(orient="records")
        return json.dumps(rows, indent=2, default=_plain)
    return _front_table(result)


def _plain(value: Any) -> Any:
    """numpy scalars as the Python numbers json writes."""
    return value.item() if isinstance(value, np.generic) else str(value)


def why_no_front(result: SearchResult) -> str:
    """Why a search's front is empty: no trial completed, or none met the constraints."""
    completed = "status" in result.trials and (result.trials["status"] == "completed").any()
    constraints = result.objectives.constraints
    if completed and constraints:
        bounds = "; ".join(constraint.describe() for constraint in constraints)
        return f"no completed trial met the constraints ({bounds})"
    return "no trial trained all its epochs"


def _failed_note(result: SearchResult) -> str:
    """How many trials failed, where any did: their errors are in trials.csv."""
    failed = int((result.trials["status"] == "failed").sum()) if "status" in result.trials else 0
    return f"; {counted(failed, 'trial')} failed (trials.csv has the errors)" if failed else ""


def _cell(value: Any, *, metric: bool) -> str:
    """A metric with four decimals, as the progress lines give it (1.0000, not 1); a parameter
    with four significant digits; a missing value blank."""
    if pd.isna(value):
        return ""
    if metric:
        return f"{value:.4f}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _aligned(table: pd.DataFrame, metrics: list[str], knee: pd.Series) -> str:
    """The table's columns right-aligned two spaces apart, each row led by its knee mark."""
    cells = [list(table.columns)] + [
        [_cell(value, metric=name in metrics) for name, value in row.items()]
        for _, row in table.iterrows()
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    marks = [" ", *np.where(knee, "*", " ")]
    return "\n".join(
        f"{mark} "
        + "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for mark, row in zip(marks, cells, strict=True)
    )


def _front_table(result: SearchResult) -> str:
    if result.pareto.empty:
        return (
            f"Pareto front: 0 of {len(result.trials)} trials: {why_no_front(result)}, so there is "
            f"no front{_failed_note(result)}."
        )
    objectives = result.objectives
    params = [p for p in result.summary.params if p in result.pareto.columns]
    columns = {"trial_id": "trial", **{p: p for p in params}}
    for split in ("val", "test"):
        for task in objectives.tasks:
            columns[task.column(split)] = f"{split} {task.name}"
    columns["epochs"] = "epochs"
    columns["tied_with"] = "tied with"  # --repeats: members the seeds cannot tell apart
    table = result.pareto[[c for c in columns if c in result.pareto]].rename(columns=columns)
    splits = objectives.all_columns("val") + objectives.all_columns("test")
    metrics = [columns[c] for c in splits if c in result.pareto]
    text = _aligned(table, metrics, result.pareto["knee"])
    volume = result.summary.hypervolume_test
    repeats = result.summary.repeats
    means = f"; metrics are means of {repeats} seeds, spread in pareto.csv" if repeats > 1 else ""
    return (
        f"Pareto front: {len(table)} of {len(result.trials)} trials (* knee{means}), "
        f"test hypervolume {volume:.4f}{loss_hypervolume_note(result.summary)}"
        f"{_failed_note(result)}\n{text}"
    )
