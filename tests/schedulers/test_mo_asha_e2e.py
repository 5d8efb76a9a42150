"""`tune-mtl search --scheduler mo-asha` through the real CLI and a local Ray, read back with pandas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from tests.conftest import run_cli
from tune_mtl.data import synthetic
from tune_mtl.results import STUDY_FILE

pytestmark = pytest.mark.e2e

VAL = [task.column("val") for task in synthetic.TASKS]  # val_shape_accuracy, val_family_accuracy
# The space and the model are fixed here, not the default ones, so that what seed 1 proposes and
# how its trials score stay the same.
SPACE = """\
params:
  padding: valid
  gamma: {type: uniform, low: 0.0, high: 1.0}
  learning_rate: {type: loguniform, low: 3.0e-4, high: 1.0e-2}
  branch_width: {type: int, low: 16, high: 256, log: true}
  shared_width: {type: int, low: 64, high: 256, log: true}
  dropout: {type: uniform, low: 0.0, high: 0.4}
"""


def test_mo_asha_search_stops_trials_prunes_them_in_optuna_and_keeps_them_off_the_front(
    tmp_path: Path,
) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    done = run_cli(
        "search", "--data", "synthetic", "--scheduler", "mo-asha", "--trials", "6",
        "--max-epochs", "4", "--results", str(tmp_path), "--name", "mo", "--seed", "1",
        "--space", str(tmp_path / "space.yaml"), "--concurrency", "1", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    experiment = tmp_path / "mo"
    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    pareto = pd.read_csv(experiment / "pareto.csv", dtype={"trial_id": str})
    summary = json.loads((experiment / "summary.json").read_text())

    assert VAL == ["val_shape_accuracy", "val_family_accuracy"]
    assert summary["options"]["scheduler"] == "mo-asha" and summary["scheduler_metric"] == VAL
    assert set(trials["status"]) <= {"completed", "stopped"}
    stopped = trials[trials["status"] == "stopped"]
    # With seed 1 the first trial's epoch-1 result dominates the second's (shape 0.5 against
    # 0.25, family 0.5 for both), and one trial at a time means the second reports after the first:
    # a stop is certain. With two at once the second may reach the rung first and go on.
    assert len(stopped) >= 1
    assert (stopped["epochs"] == 1).all()  # the only rung below 4 epochs, eta 4
    assert (trials.loc[trials["status"] == "completed", "epochs"] == 4).all()
    assert set(pareto["trial_id"]) <= set(trials.loc[trials["status"] == "completed", "trial_id"])
    assert not set(pareto["trial_id"]) & set(stopped["trial_id"])

    # A trial whose epoch-1 result dominates every other trial's is never stopped.
    first = {}
    for trial_id in trials["trial_id"]:
        with (experiment / f"trial_{trial_id}" / "result.json").open() as lines:
            row = json.loads(next(lines))
        assert row["training_iteration"] == 1
        first[trial_id] = np.array([row[name] for name in VAL])
    leaders = [
        trial_id
        for trial_id, point in first.items()
        if all((point >= p).all() and (point > p).any() for t, p in first.items() if t != trial_id)
    ]
    assert len(leaders) == 1  # with seed 1 one trial's first epoch beats every other's
    assert trials.set_index("trial_id").loc[leaders[0], "status"] == "completed"

    # Optuna's stored study: each stopped trial PRUNED, each completed one COMPLETE with its values.
    study = optuna.load_study(
        study_name="mo",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(experiment / STUDY_FILE))
        ),
    )
    assert len(study.trials) == len(trials)
    state_by_gamma = {round(t.params["gamma"], 12): t for t in study.trials}
    for row in trials.itertuples():
        optuna_trial = state_by_gamma[round(row.gamma, 12)]
        if row.status == "stopped":
            assert optuna_trial.state == optuna.trial.TrialState.PRUNED
            assert optuna_trial.values is None
        else:
            assert optuna_trial.state == optuna.trial.TrialState.COMPLETE
            assert optuna_trial.values == pytest.approx([getattr(row, name) for name in VAL])
    assert f"[{len(trials)}/6] trial" in done.stdout
    assert "scheduler mo-asha (rungs at epochs 1);" in done.stdout
    assert summary["options"]["reduction_factor"] == 4
