"""The noise-aware front: candidates near the front, means and spreads, ties, and --repeats end to
end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import brute_force_mask, run_cli
from tune_mtl.objectives import Objectives
from tune_mtl.repeats import aggregate, candidates, mean_front, repeat_seeds
from tune_mtl.report import report
from tune_mtl.results import format_front, front_of, load_results
from tune_mtl.tasks import Task

OBJECTIVES = Objectives.for_tasks(
    [Task("item", classes="abcd"), Task("size", kind="regression")], [0.25, 2.0]
)


def trials(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["trial_id", "status", "val_item_accuracy", "val_size_mae"])


def test_candidates_are_the_front_and_the_trials_within_the_margin() -> None:
    table = trials([
        ("a", "completed", 0.85, 1.0),   # front
        ("b", "completed", 0.65, 0.5),   # front
        ("c", "completed", 0.83, 1.04),  # dominated by a, but by less than 5% of the range
        ("d", "completed", 0.50, 1.9),   # far behind
        ("e", "stopped", 0.90, 0.1),     # stopped: never a candidate
    ])  # fmt: skip
    front = front_of(table, OBJECTIVES)
    assert sorted(front["trial_id"]) == ["a", "b"]
    # Scaled from the reference (0.25 accuracy, MAE 2) to the best (0.85, 0.5): c trails a by
    # 0.02 / 0.6 = 0.033 and by 0.04 / 1.5 = 0.027, both under 0.05; d trails b by more on both.
    assert sorted(candidates(table, front, OBJECTIVES)["trial_id"]) == ["a", "b", "c"]
    assert sorted(candidates(table, front, OBJECTIVES, margin=0.01)["trial_id"]) == ["a", "b"]


def test_means_spreads_and_a_front_on_the_means() -> None:
    runs = pd.DataFrame(
        {
            "trial_id": ["a", "a", "a", "b", "b", "b", "c", "c", "c"],
            "seed": [0, 1000, 2000] * 3,
            "val_item_accuracy": [0.90, 0.80, 0.85, 0.70, 0.72, 0.74, 0.84, 0.86, 0.88],
            "val_size_mae": [1.0, 1.2, 1.1, 0.5, 0.6, 0.7, 1.0, 1.0, 1.0],
        }
    )
    table = aggregate(runs, ["val_item_accuracy", "val_size_mae"])
    row = table.set_index("trial_id").loc["a"]
    assert row["val_item_accuracy_mean"] == pytest.approx(0.85)
    assert row["val_item_accuracy_std"] == pytest.approx(np.std([0.9, 0.8, 0.85], ddof=1))
    assert row["runs"] == 3
    front = mean_front(table, OBJECTIVES)
    # c's means (0.86, 1.0) dominate a's (0.85, 1.1); b is best on size.
    assert front["trial_id"].tolist() == ["b", "c"]
    assert front["knee"].sum() == 1
    # b and c overlap on neither objective: no tie.
    assert front["tied_with"].tolist() == ["", ""]


def test_members_whose_intervals_overlap_on_every_objective_are_tied() -> None:
    table = pd.DataFrame(
        {
            "trial_id": ["a", "b"],
            "val_item_accuracy_mean": [0.80, 0.82], "val_item_accuracy_std": [0.02, 0.01],
            "val_size_mae_mean": [0.9, 1.0], "val_size_mae_std": [0.06, 0.05],
            "runs": [3, 3],
        }
    )  # fmt: skip
    front = mean_front(table, OBJECTIVES)
    assert front["tied_with"].tolist() == ["b", "a"]
    table.loc[1, "val_size_mae_mean"] = 1.2  # apart on size; both stay on the front
    front = mean_front(table, OBJECTIVES)
    assert front["tied_with"].tolist() == ["", ""]


def test_extra_seeds_never_meet_the_searchs_own() -> None:
    assert repeat_seeds(3, 3) == [1003, 2003]
    assert repeat_seeds(3, 1) == []


@pytest.mark.e2e
def test_repeats_3_gives_a_front_with_intervals(tmp_path: Path) -> None:
    done = run_cli(
        "search", "--data", "synthetic", "--trials", "3", "--max-epochs", "2", "--scheduler",
        "none", "--repeats", "3", "--results", str(tmp_path), "--name", "noisy", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    experiment = tmp_path / "noisy"
    trials_table = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    pareto = pd.read_csv(experiment / "pareto.csv", dtype={"trial_id": str}, keep_default_na=False)
    runs = pd.read_csv(experiment / "repeats.csv", dtype={"trial_id": str})
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["repeats"] == 3 and summary["repeat_seconds"] > 0
    # Every candidate ran with the search's seed and two more; the seeds differ, so may the values.
    assert set(runs.groupby("trial_id")["seed"].apply(tuple)) == {(0, 1000, 2000)}
    assert set(pareto["trial_id"]) <= set(runs["trial_id"]) <= set(trials_table["trial_id"])
    columns = ["val_shape_accuracy", "val_family_accuracy", "test_shape_accuracy"]
    for trial_id, member in pareto.set_index("trial_id").iterrows():
        own = runs[runs["trial_id"] == trial_id]
        for column in columns:
            assert member[column] == pytest.approx(own[column].mean())
            assert member[f"{column}_std"] == pytest.approx(own[column].std(ddof=1))
        assert member["runs"] == 3
    # The front is the candidates' means that no other candidate's means dominate.
    means = runs.groupby("trial_id")[["val_shape_accuracy", "val_family_accuracy"]].mean()
    points = means.to_numpy()
    assert set(pareto["trial_id"]) == set(means.index[brute_force_mask(points)])
    assert pareto["knee"].sum() == 1
    assert (experiment.parent / "noisy-repeats").is_dir()  # Ray's experiment of the extra runs
    # The report's members table gives the means with their spread, and who is tied with whom.
    page = report(experiment).index.read_text()
    assert "Metrics are means ± standard deviations over 3 runs" in page
    for _, member in pareto.iterrows():
        mean, sd = member["val_shape_accuracy"], member["val_shape_accuracy_std"]
        assert f"<td>{mean:.4f} ± {sd:.4f}</td>" in page
    assert "<th>tied with</th>" in page
    # Scripts get the spreads, runs and ties too, under pareto.csv's names.
    (row, *_) = json.loads(format_front(load_results(experiment), format="json"))
    assert {"val_shape_accuracy_std", "test_family_accuracy_std", "runs", "tied_with"} <= set(row)
    header = format_front(load_results(experiment), format="csv").splitlines()[0].split(",")
    assert header.index("val_shape_accuracy_std") == header.index("val_shape_accuracy") + 1
