"""`--time-budget`: a search whose budget runs out ends normally with the trials it has."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_cli
from tune_mtl.cli import main
from tune_mtl.errors import TuneMtlError
from tune_mtl.outcome import _after_the_budget, interrupted

TRIALS, EPOCHS, BUDGET = 50, 6, 25.0


@pytest.mark.parametrize(
    ("statuses", "trials", "budget_spent", "expected"),
    [
        (["completed", "stopped", "failed"], 3, False, False),  # every trial ran
        (["completed", "stopped"], 3, False, True),  # Ctrl-C between trials, no budget
        (["completed", "stopped"], 3, True, False),  # the budget ran out
        (["completed", "running"], 3, True, True),  # Ctrl-C: a trial was still running
        (["completed", "pending"], 2, True, True),
        (["completed", "paused"], 2, False, True),
        ([], 3, True, False),
    ],
)
def test_a_search_is_interrupted_only_if_it_left_work_undone(
    statuses: list[str], trials: int, budget_spent: bool, expected: bool
) -> None:
    frame = pd.Series(statuses, dtype=object)
    assert interrupted(frame, trials=trials, budget_spent=budget_spent) is expected


def test_trials_without_an_epoch_are_left_out_unless_no_trial_has_one() -> None:
    said: list[str] = []
    trials = pd.DataFrame(
        {"trial_id": ["a", "b", "c", "d"], "status": ["completed", "stopped", "failed", "stopped"],
         "epochs": [6, 2, 0, 0]}
    )  # fmt: skip
    kept = _after_the_budget(trials, 25.0, said.append)
    assert kept["trial_id"].tolist() == ["a", "b", "c"]  # a failed trial keeps its error
    unstarted = trials.iloc[[3, 3]].assign(trial_id=["d", "e"])
    assert _after_the_budget(unstarted, 2.0, said.append).equals(unstarted)
    assert said == [
        "The time budget of 25 s ran out; 1 trial without an epoch left out.",
        "The time budget of 2 s ran out before any trial ended an epoch.",
    ]
    with pytest.raises(TuneMtlError, match="ran out before any trial started"):
        _after_the_budget(trials.iloc[:0], 2.0, said.append)


@pytest.mark.parametrize("budget", ["0", "-5"])
def test_a_budget_must_be_positive(budget: str, tmp_path: Path, capsys) -> None:
    args = ["search", "--data", "synthetic", "--results", str(tmp_path), "--time-budget", budget]
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: --time-budget must be > 0 seconds, but got {float(budget)}."]
    assert not list(tmp_path.iterdir())


@pytest.mark.e2e
def test_a_search_ends_normally_when_its_budget_runs_out(tmp_path: Path) -> None:
    done = run_cli(
        "search", "--data", "synthetic", "--scheduler", "none", "--concurrency", "1",
        "--trials", str(TRIALS), "--max-epochs", str(EPOCHS), "--time-budget", str(BUDGET),
        "--results", str(tmp_path), "--name", "budget",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"time budget {BUDGET:g} s" in done.stdout
    experiment = tmp_path / "budget"
    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    pareto = pd.read_csv(experiment / "pareto.csv", dtype={"trial_id": str})
    summary = json.loads((experiment / "summary.json").read_text())

    assert f"The time budget of {BUDGET:g} s ran out" in done.stdout
    assert 1 <= len(trials) < TRIALS
    assert set(trials["status"]) <= {"completed", "stopped"}
    assert (trials["epochs"] >= 1).all()  # trials that had not ended an epoch are left out
    assert (trials.loc[trials["status"] == "stopped", "epochs"] < EPOCHS).all()
    assert (trials.loc[trials["status"] == "completed", "epochs"] == EPOCHS).all()
    completed = set(trials.loc[trials["status"] == "completed", "trial_id"])
    # A 6-epoch synthetic trial takes seconds: the first completes well within the budget.
    assert len(pareto) >= 1 and set(pareto["trial_id"]) <= completed

    assert summary["options"]["time_budget_s"] == BUDGET
    assert summary["options"]["trials"] == TRIALS
    assert sum(summary["status_counts"].values()) == len(trials)
    assert summary["wall_seconds"] < BUDGET + 120


@pytest.mark.e2e
def test_the_trial_running_when_the_budget_runs_out_is_stopped(tmp_path: Path) -> None:
    # One trial of far more epochs than the budget allows: the budget cuts it short.
    epochs = 1000
    done = run_cli(
        "search", "--data", "synthetic", "--scheduler", "none", "--trials", "1",
        "--max-epochs", str(epochs), "--time-budget", "20", "--results", str(tmp_path),
        "--name", "budget",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The time budget of 20 s ran out." in done.stdout
    assert "no trial trained all its epochs, so there is no front" in done.stdout
    experiment = tmp_path / "budget"
    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    assert trials["status"].tolist() == ["stopped"]
    assert 1 <= trials.loc[0, "epochs"] < epochs
    assert pd.read_csv(experiment / "pareto.csv").empty
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["status_counts"] == {"stopped": 1}
