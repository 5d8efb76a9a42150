"""Result files read back, and the front printed for people and for scripts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tune_mtl.cli import main
from tune_mtl.errors import TuneMtlError
from tune_mtl.results import format_front, front_of, load_results, write_results

# Hex trial IDs that pandas would read as numbers: 12345 and infinity.
TRIAL_IDS = ["00012345", "1e345678", "9abcdef0", "00000007"]


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    trials = pd.DataFrame(
        {
            "trial_id": TRIAL_IDS,
            "status": ["completed", "completed", "stopped", "completed"],
            "gamma": [0.2, 0.8, 0.5, 0.5],
            "learning_rate": [1e-3, 2e-3, 3e-3, 4e-3],
            "epochs": [9, 9, 1, 9],
            "val_task1_accuracy": [0.6, 0.9, 0.95, 0.5],
            "val_task2_accuracy": [0.95, 0.7, 0.99, 0.6],
            "seconds": [10.0, 11.0, 2.0, 12.0],
        }
    )
    front = front_of(trials, (1 / 3, 0.5))
    front["test_task1_accuracy"] = front["val_task1_accuracy"] - 0.01
    front["test_task2_accuracy"] = front["val_task2_accuracy"] - 0.02
    summary = {
        "tasks": [{"name": "shape"}, {"name": "family"}],
        "params": ["gamma", "learning_rate"],
        "hypervolume_test": 0.3,
    }
    write_results(tmp_path / "exp", trials, front, summary)
    return tmp_path / "exp"


def test_trial_ids_stay_strings(experiment: Path) -> None:
    result = load_results(experiment)
    assert result.trials["trial_id"].tolist() == TRIAL_IDS
    assert set(result.pareto["trial_id"]) == {"00012345", "1e345678"}


def test_csv_and_json_give_the_front_with_pareto_csv_columns(experiment: Path, capsys) -> None:
    expected = pd.read_csv(experiment / "pareto.csv", dtype={"trial_id": str})
    columns = ["trial_id", "knee", "gamma", "learning_rate", "val_task1_accuracy",
               "val_task2_accuracy", "test_task1_accuracy", "test_task2_accuracy", "epochs",
               "seconds"]  # fmt: skip

    assert main(["pareto", str(experiment), "--format", "csv"]) == 0
    from_csv = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"trial_id": str})
    assert from_csv.columns.tolist() == columns
    pd.testing.assert_frame_equal(from_csv, expected[columns])

    assert main(["pareto", str(experiment), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [list(row) for row in rows] == [columns] * len(expected)
    from_json = pd.DataFrame(rows)
    pd.testing.assert_frame_equal(from_json, expected[columns], check_dtype=False)
    assert sum(row["knee"] is True for row in rows) == 1


def test_table_names_the_tasks_and_stars_the_knee(experiment: Path, capsys) -> None:
    assert main(["pareto", str(experiment)]) == 0
    table = capsys.readouterr().out
    assert "val shape" in table and "test family" in table
    knee = load_results(experiment).knee["trial_id"]
    (starred,) = [line for line in table.splitlines() if line.startswith("*")]
    assert knee in starred


def test_json_writes_missing_values_as_null(experiment: Path) -> None:
    result = load_results(experiment)
    result.pareto.loc[0, "test_task1_accuracy"] = np.nan
    assert json.loads(format_front(result, format="json"))[0]["test_task1_accuracy"] is None


def test_unknown_format_is_an_error(experiment: Path, capsys) -> None:
    with pytest.raises(TuneMtlError, match="format 'yaml' is not known"):
        format_front(load_results(experiment), format="yaml")
    assert main(["pareto", str(experiment), "--format", "yaml"]) == 2
    assert "'--format'" in capsys.readouterr().err
