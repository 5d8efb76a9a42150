"""The real CLI with real Ray on loopback, on synthetic data; results read back with pandas."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from tests.conftest import run_cli
from tune_mtl.pareto import hypervolume_2d, pareto_mask

VAL = ["val_shape_accuracy", "val_family_accuracy"]
TEST = ["test_shape_accuracy", "test_family_accuracy"]

pytestmark = pytest.mark.e2e


def test_search_writes_trials_front_and_summary(synthetic_search, tmp_path: Path) -> None:
    experiment = synthetic_search.path
    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    pareto = pd.read_csv(experiment / "pareto.csv", dtype={"trial_id": str})
    summary = json.loads((experiment / "summary.json").read_text())

    assert len(trials) == 4 and trials["trial_id"].is_unique
    # Without --concurrency, as many trials as the CPUs hold start together: the other trial
    # already runs when the first ends (Ray alone would start its workers one after another).
    first_end = next(
        line for line in synthetic_search.stdout.splitlines() if line.startswith("[1/4]")
    )
    assert "| 1 running |" in first_end, first_end
    assert set(trials["status"]) <= {"completed", "stopped"}
    assert (trials.loc[trials["status"] == "completed", "epochs"] == 3).all()
    assert (trials.loc[trials["status"] == "stopped", "epochs"] < 3).all()
    assert trials["gamma"].between(0, 1).all()
    np.testing.assert_allclose(trials["weight_shape"], trials["gamma"])
    np.testing.assert_allclose(trials["weight_shape"] + trials["weight_family"], 1.0)
    for column in VAL:
        assert (trials[f"best_{column}"] >= trials[column]).all()

    # The front: exactly the non-dominated completed trials, each evaluated on the test split.
    completed = trials[trials["status"] == "completed"]
    points = completed[VAL].to_numpy()
    assert len(pareto) >= 1
    assert set(pareto["trial_id"]) == set(completed["trial_id"][pareto_mask(points)])
    assert pareto["knee"].sum() == 1
    assert pareto[TEST].stack().between(0, 1).all()
    assert (pareto[["test_shape_loss", "test_family_loss"]] > 0).all().all()
    test_points = pareto[TEST].to_numpy()
    # The reference: what always answering the most frequent training class scores on validation.
    assert summary["hypervolume_reference"] == [0.25, 0.5]
    assert summary["hypervolume_test"] == pytest.approx(hypervolume_2d(test_points, (0.25, 0.5)))
    assert [t["name"] for t in summary["tasks"]] == ["shape", "family"]
    assert summary["objectives"] == ["shape", "family"]
    assert summary["options"]["trials"] == 4 and summary["data"] == "synthetic"
    assert summary["options"]["learning_rate_schedule"] == "cosine"
    assert summary["scheduler_metric"] == "val_score"
    assert set(summary["versions"]) >= {"tensorflow", "keras", "ray", "optuna"}

    # Both accuracies in every report, and a .keras checkpoint per trial.
    for trial_id in trials["trial_id"]:
        rows = [
            json.loads(line) for line in (experiment / f"trial_{trial_id}" / "result.json").open()
        ]
        assert all(set(VAL) <= set(r) and "val_score" in r for r in rows)
        assert [r["training_iteration"] for r in rows] == list(range(1, len(rows) + 1))
        # The default space's cosine schedule, at zero once the 3rd epoch ends.
        start = trials.set_index("trial_id").loc[trial_id, "learning_rate"]
        cosine = [start * (1 + math.cos(math.pi * epoch / 3)) / 2 for epoch in range(1, 4)]
        np.testing.assert_allclose(
            [r["learning_rate"] for r in rows], cosine[: len(rows)], rtol=1e-4, atol=1e-9
        )
        assert list((experiment / f"trial_{trial_id}").glob("checkpoint_*/model.keras"))

    # Optuna's stored study agrees: stopped trials are pruned, completed ones carry both values.
    study = optuna.load_study(
        study_name="e2e",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(experiment / "optuna.journal"))
        ),
    )
    states = sorted(t.state.name for t in study.trials)
    expected = sorted({"completed": "COMPLETE", "stopped": "PRUNED"}[s] for s in trials["status"])
    assert states == expected

    # Progress lines and the final table, then `pareto` prints the same front from the files.
    assert synthetic_search.stdout.count("/4] trial ") == 4
    assert "Pareto front:" in synthetic_search.stdout
    # Neither the libraries' lines that tune-mtl says its own way nor TensorFlow's on the GPU.
    for said in (
        "Started a local Ray instance", "Token authentication", "A new study created",
        "Wrote the latest version", "Configuration for experiment", "cuInit", "cuda drivers",
    ):  # fmt: skip
        assert said not in synthetic_search.stderr + synthetic_search.stdout, said
    again = run_cli("pareto", str(experiment), cwd=tmp_path)
    assert again.returncode == 0
    for trial_id in pareto["trial_id"]:
        assert trial_id in again.stdout


def test_a_diverging_trial_fails_and_the_search_goes_on(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        "data: synthetic\nscheduler: none\nmax_epochs: 2\n"
        "params:\n  learning_rate: {type: grid, values: [0.003, 1.0e30]}\n"
    )
    done = run_cli("search", "--space", str(space), "--results", str(tmp_path), "--name", "nan",
                   "--max-failures", "0", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "nan" / "trials.csv").set_index("learning_rate")
    assert trials.loc[1e30, "status"] == "failed"
    assert "became nan" in trials.loc[1e30, "error"] or "became inf" in trials.loc[1e30, "error"]
    assert trials.loc[0.003, "status"] == "completed"
    # One line says it failed and where its traceback is; Ray's own traceback stays in that file.
    failed_id = trials.loc[1e30, "trial_id"]
    line = next(line for line in done.stdout.splitlines() if f"trial {failed_id} failed" in line)
    assert "failed TrialDivergedError: loss became" in line
    assert f"(traceback: trial_{failed_id}/error.txt)" in line
    traceback = (tmp_path / "nan" / f"trial_{failed_id}" / "error.txt").read_text()
    assert 'File "' in traceback and "TrialDivergedError: loss became" in traceback
    for said in ("Traceback", "Trial task failed", "Trials did not complete"):
        assert said not in done.stdout + done.stderr, said
    assert "1 trial failed (trials.csv has the errors)" in done.stdout
    pareto = pd.read_csv(tmp_path / "nan" / "pareto.csv")
    assert pareto["learning_rate"].tolist() == [0.003]
    assert not np.isnan(pareto["test_shape_accuracy"]).any()
