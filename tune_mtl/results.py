"""Finished trials as tables: trials.csv, pareto.csv and summary.json, written atomically.

Pure pandas and numpy; the Pareto math is in `tune_mtl.pareto`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_mtl.errors import TuneMtlError
from tune_mtl.pareto import hypervolume_2d, knee_index, pareto_mask

__all__ = [
    "SearchResult",
    "front_of",
    "load_results",
    "write_results",
    "write_atomically",
    "format_front",
    "front_columns",
    "FRONT_FORMATS",
    "hypervolume_of",
    "VAL_OBJECTIVES",
    "TEST_OBJECTIVES",
]

TRIALS_FILE = "trials.csv"
PARETO_FILE = "pareto.csv"
SUMMARY_FILE = "summary.json"
VAL_OBJECTIVES = ["val_task1_accuracy", "val_task2_accuracy"]
TEST_OBJECTIVES = ["test_task1_accuracy", "test_task2_accuracy"]


@dataclass(frozen=True)
class SearchResult:
    """A finished search: every trial, the Pareto front, and the summary."""

    path: Path
    trials: pd.DataFrame
    pareto: pd.DataFrame
    summary: dict[str, Any]

    @property
    def knee(self) -> pd.Series:
        """The front member with the best compromise between the tasks."""
        return self.pareto[self.pareto["knee"]].iloc[0]


def front_of(trials: pd.DataFrame, chance: Sequence[float]) -> pd.DataFrame:
    """Completed trials that no other completed trial beats on both validation accuracies.

    Sorted by task 1 accuracy, best first, with a boolean ``knee`` column (scaled from ``chance``,
    the chance accuracy per task).
    """
    completed = trials[trials["status"] == "completed"]
    front = completed[pareto_mask(completed[VAL_OBJECTIVES].to_numpy())]
    front = front.sort_values(VAL_OBJECTIVES, ascending=False).reset_index(drop=True)
    front["knee"] = False
    if len(front):
        front.loc[knee_index(front[VAL_OBJECTIVES].to_numpy(), chance), "knee"] = True
    return front


def hypervolume_of(front: pd.DataFrame, columns: list[str], reference: Sequence[float]) -> float:
    """Hypervolume of ``front`` on two accuracy columns; reference is chance accuracy per task."""
    points = front[columns].to_numpy(dtype=float)
    return hypervolume_2d(points[~np.isnan(points).any(axis=1)], reference)


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename: whole or not at all."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)


def write_results(
    directory: Path, trials: pd.DataFrame, pareto: pd.DataFrame, summary: dict[str, Any]
) -> SearchResult:
    """Writes the three result files into ``directory``; each appears whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / TRIALS_FILE, trials.to_csv(index=False))
    write_atomically(directory / PARETO_FILE, pareto.to_csv(index=False))
    write_atomically(directory / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return SearchResult(directory, trials, pareto, summary)


def load_results(directory: str | Path) -> SearchResult:
    """Reads a finished search back from its folder."""
    directory = Path(directory)
    missing = [n for n in (TRIALS_FILE, PARETO_FILE, SUMMARY_FILE) if not (directory / n).is_file()]
    if missing:
        raise TuneMtlError(
            f"{directory} has no {', '.join(missing)}; pass the folder of a finished search, "
            "e.g. results/NAME."
        )
    # Trial IDs are hex; "00012345" must not become the number 12345.
    return SearchResult(
        directory,
        pd.read_csv(directory / TRIALS_FILE, dtype={"trial_id": str}),
        pd.read_csv(directory / PARETO_FILE, dtype={"trial_id": str}),
        json.loads((directory / SUMMARY_FILE).read_text()),
    )


FRONT_FORMATS = ("table", "csv", "json")


def front_columns(result: SearchResult) -> list[str]:
    """The front's columns for scripts: as in ``pareto.csv``, less the bookkeeping."""
    params = [p for p in result.summary["params"] if p in result.pareto.columns]
    wanted = ["trial_id", "knee", *params, *VAL_OBJECTIVES, *TEST_OBJECTIVES, "epochs", "seconds"]
    return [column for column in wanted if column in result.pareto.columns]


def format_front(result: SearchResult, *, format: str = "table") -> str:
    """The front as text: ``table`` for people, ``csv`` or ``json`` (a list of rows) for scripts.

    The table names the tasks and stars the knee; csv and json keep ``pareto.csv``'s column names
    (``val_task1_accuracy``, ...), whatever the tasks are called, with ``knee`` true or false.
    """
    if format not in FRONT_FORMATS:
        raise TuneMtlError(
            f"format {format!r} is not known; choose one of {', '.join(FRONT_FORMATS)}."
        )
    if format == "csv":
        return result.pareto[front_columns(result)].to_csv(index=False).rstrip("\n")
    if format == "json":
        front = result.pareto[front_columns(result)]
        rows = front.astype(object).where(front.notna(), None).to_dict(orient="records")
        return json.dumps(rows, indent=2, default=_plain)
    return _front_table(result)


def _plain(value: Any) -> Any:
    """numpy scalars as the Python numbers json writes."""
    return value.item() if isinstance(value, np.generic) else str(value)


def _front_table(result: SearchResult) -> str:
    if result.pareto.empty:
        return (
            f"Pareto front: 0 of {len(result.trials)} trials: no trial trained all its epochs, "
            "so there is no front."
        )
    task1, task2 = (task["name"] for task in result.summary["tasks"])
    params = [p for p in result.summary["params"] if p in result.pareto.columns]
    columns = {
        "trial_id": "trial",
        **{p: p for p in params},
        "val_task1_accuracy": f"val {task1}",
        "val_task2_accuracy": f"val {task2}",
        "test_task1_accuracy": f"test {task1}",
        "test_task2_accuracy": f"test {task2}",
        "epochs": "epochs",
    }
    table = result.pareto[list(columns)].rename(columns=columns)
    table.insert(0, "", np.where(result.pareto["knee"], "*", ""))
    text = table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    hypervolume = result.summary["hypervolume_test"]
    return (
        f"Pareto front: {len(table)} of {len(result.trials)} trials "
        f"(* knee), test hypervolume {hypervolume:.4f}\n{text}"
    )
