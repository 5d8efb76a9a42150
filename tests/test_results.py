"""Result files read back, and the front printed for people and for scripts."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tune_mtl.cli import main
from tune_mtl.errors import TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.results import (
    format_front,
    front_of,
    hypervolume_of,
    load_results,
    replacing,
    write_atomically,
    write_results,
)
from tune_mtl.summary import Summary
from tune_mtl.tasks import Task

# Hex trial IDs that pandas would read as numbers: 12345 and infinity.
TRIAL_IDS = ["00012345", "1e345678", "9abcdef0", "00000007"]


OBJECTIVES = Objectives.for_tasks(
    [Task("shape", classes="abc"), Task("family", classes="xy")], references=[1 / 3, 0.5]
)


def summary_for(objectives: Objectives, front: pd.DataFrame, **changes) -> Summary:
    fields = dict(
        name="exp", data="synthetic", model="small", options={}, **objectives.to_dict(),
        params=["gamma", "learning_rate"], scheduler_metric=None, status_counts={},
        front_size=len(front), hypervolume_reference=list(objectives.references),
        hypervolume_val=hypervolume_of(front, objectives, "val"),
        hypervolume_test=hypervolume_of(front, objectives, "test"),
        knee_trial_id=None, wall_seconds=1.0,
    )  # fmt: skip
    return Summary(**{**fields, **changes})


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    trials = pd.DataFrame(
        {
            "trial_id": TRIAL_IDS,
            "status": ["completed", "completed", "stopped", "completed"],
            "gamma": [0.2, 0.8, 0.5, 0.5],
            "learning_rate": [1e-3, 2e-3, 3e-3, 4e-3],
            "epochs": [9, 9, 1, 9],
            "val_shape_accuracy": [0.6, 0.9, 0.95, 0.5],
            "val_family_accuracy": [0.95, 0.7, 0.99, 0.6],
            "seconds": [10.0, 11.0, 2.0, 12.0],
        }
    )
    front = front_of(trials, OBJECTIVES)
    front["test_shape_accuracy"] = front["val_shape_accuracy"] - 0.01
    front["test_family_accuracy"] = front["val_family_accuracy"] - 0.02
    write_results(tmp_path / "exp", trials, front, summary_for(OBJECTIVES, front))
    return tmp_path / "exp"


def test_trial_ids_stay_strings(experiment: Path) -> None:
    result = load_results(experiment)
    assert result.trials["trial_id"].tolist() == TRIAL_IDS
    assert set(result.pareto["trial_id"]) == {"00012345", "1e345678"}


def test_csv_and_json_give_the_front_with_pareto_csv_columns(experiment: Path, capsys) -> None:
    expected = pd.read_csv(experiment / "pareto.csv", dtype={"trial_id": str})
    columns = ["trial_id", "knee", "gamma", "learning_rate", "val_shape_accuracy",
               "val_family_accuracy", "test_shape_accuracy", "test_family_accuracy", "epochs",
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


def test_table_gives_every_metric_four_decimals(experiment: Path) -> None:
    result = load_results(experiment)
    result.pareto["val_shape_accuracy"] = 1.0
    result.pareto["val_family_accuracy"] = 0.98
    result.pareto["test_shape_accuracy"] = np.nan
    header, *rows = format_front(result).splitlines()[1:]
    assert "  val shape  val family  test shape" in header
    for row in rows:
        cells = row.split()
        assert "1.0000" in cells and "0.9800" in cells
        assert not {"1", "0.98", "nan", "NaN"} & set(cells)


def test_json_writes_missing_values_as_null(experiment: Path) -> None:
    result = load_results(experiment)
    result.pareto.loc[0, "test_shape_accuracy"] = np.nan
    assert json.loads(format_front(result, format="json"))[0]["test_shape_accuracy"] is None


def test_unknown_format_is_an_error(experiment: Path, capsys) -> None:
    with pytest.raises(TuneMtlError, match="format 'yaml' is not known"):
        format_front(load_results(experiment), format="yaml")
    assert main(["pareto", str(experiment), "--format", "yaml"]) == 2
    assert "'--format'" in capsys.readouterr().err


def test_the_front_of_mixed_directions_with_a_constraint() -> None:
    """A regression task is minimised; an infeasible trial never enters the front."""
    objectives = Objectives.for_tasks(
        [Task("item", classes="abcd"), Task("size", kind="regression"),
         Task("group", classes="xy")],
        references=[0.25, 3.0, 0.5],
        constraints={"group": {"min": 0.8}},
    )  # fmt: skip
    trials = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c", "d", "e"],
            "status": ["completed", "completed", "completed", "completed", "stopped"],
            "val_item_accuracy": [0.9, 0.8, 0.95, 0.7, 0.99],
            "val_size_mae": [2.0, 1.0, 0.5, 1.5, 0.1],
            "val_group_accuracy": [0.9, 0.9, 0.6, 0.85, 0.9],
        }
    )
    front = front_of(trials, objectives)
    # c is best on both objectives but infeasible; e was stopped; d is dominated by b.
    assert front["trial_id"].tolist() == ["a", "b"]
    assert objectives.columns() == ["val_item_accuracy", "val_size_mae"]
    # Boxes from (0.25, -3): a spans 0.65 x 1, b 0.55 x 2, overlapping in 0.55 x 1.
    assert hypervolume_of(front, objectives) == pytest.approx(0.65 + 1.1 - 0.55)


# The loss hypervolume of Multi-Fashion's papers: test losses below a loss of 2 per task.


def brute_force_loss_hypervolume(losses: np.ndarray, reference: float) -> float:
    """The union of the boxes [loss, reference] summed cell by cell over the grid of their
    corners: a cell counts when some point is no worse than its lowest corner."""
    axes = [np.unique(np.append(np.minimum(losses[:, k], reference), reference))
            for k in range(losses.shape[1])]  # fmt: skip
    volume = 0.0
    for cell in np.ndindex(*(len(axis) - 1 for axis in axes)):
        low = np.array([axis[i] for axis, i in zip(axes, cell, strict=True)])
        high = np.array([axis[i + 1] for axis, i in zip(axes, cell, strict=True)])
        if (losses <= low).all(axis=1).any():
            volume += float(np.prod(high - low))
    return volume


@pytest.mark.parametrize("tasks", [2, 3])
@pytest.mark.parametrize("seed", range(10))
def test_loss_hypervolume_matches_brute_force(tasks: int, seed: int) -> None:
    from tune_mtl.results import LOSS_HYPERVOLUME_REFERENCE, loss_hypervolume

    rng = np.random.default_rng(seed)
    losses = rng.uniform(0.1, 2.5, size=(int(rng.integers(1, 9)), tasks))  # some beyond 2
    expected = brute_force_loss_hypervolume(losses, LOSS_HYPERVOLUME_REFERENCE)
    assert loss_hypervolume(losses) == pytest.approx(expected, rel=1e-12)


def test_loss_hypervolume_reference_point_is_two_per_task() -> None:
    from tune_mtl.results import LOSS_HYPERVOLUME_REFERENCE, loss_hypervolume

    assert LOSS_HYPERVOLUME_REFERENCE == 2.0
    assert loss_hypervolume([[0.5, 0.25]]) == pytest.approx((2 - 0.5) * (2 - 0.25))
    assert loss_hypervolume([[0.0, 0.0]]) == pytest.approx(4.0)
    assert loss_hypervolume([[0.5, 2.0], [2.1, 0.1]]) == 0.0  # no better than 2 in every task
    # Two points: their boxes overlap in (2 - 1) * (2 - 1).
    assert loss_hypervolume([[0.5, 1.0], [1.0, 0.5]]) == pytest.approx(1.5 + 1.5 - 1.0)


def test_loss_hypervolume_of_a_front_and_where_it_shows(tmp_path: Path, capsys) -> None:
    from tune_mtl.results import loss_hypervolume_of

    front = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c"],
            "knee": [True, False, False],
            "val_shape_accuracy": [0.9, 0.8, 0.7],
            "val_family_accuracy": [0.7, 0.8, 0.9],
            "test_shape_loss": [0.5, 1.0, np.nan],
            "test_family_loss": [1.0, 0.5, 0.2],
        }
    )
    volume = loss_hypervolume_of(front, OBJECTIVES)  # c has no shape loss: left out
    assert volume == pytest.approx(2.0)
    assert loss_hypervolume_of(front.drop(columns="test_family_loss"), OBJECTIVES) == 0.0
    with_size = Objectives.for_tasks(
        [Task("shape", classes="abc"), Task("size", kind="regression")], references=[0.3, 1.0]
    )
    assert loss_hypervolume_of(front.assign(test_size_loss=0.1), with_size) is None

    trials = front.drop(columns=["knee"]).assign(status="completed")
    summary = summary_for(OBJECTIVES, front, hypervolume_test_loss=volume)
    write_results(tmp_path / "exp", trials, front, summary)
    result = load_results(tmp_path / "exp")
    assert result.summary.hypervolume_test_loss == pytest.approx(2.0)
    assert main(["pareto", str(tmp_path / "exp")]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.endswith("; test loss hypervolume 2.0000 (reference loss 2 per task)")

    write_results(tmp_path / "without", trials, front, summary_for(OBJECTIVES, front))
    assert load_results(tmp_path / "without").summary.hypervolume_test_loss is None
    assert main(["pareto", str(tmp_path / "without")]) == 0
    assert "loss hypervolume" not in capsys.readouterr().out


def test_files_written_get_the_umasks_permissions_and_an_error_leaves_the_old_one(
    tmp_path: Path,
) -> None:
    previous = os.umask(0o022)
    try:
        write_atomically(tmp_path / "summary.json", "{}\n")
        assert stat.S_IMODE((tmp_path / "summary.json").stat().st_mode) == 0o644
        os.umask(0o077)
        write_atomically(tmp_path / "private.json", "{}\n")
        assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
    finally:
        os.umask(previous)
    with pytest.raises(RuntimeError), replacing(tmp_path / "summary.json") as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert (tmp_path / "summary.json").read_text() == "{}\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["private.json", "summary.json"]
