"""Importance per task on a stored study whose objectives are known closed forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from matplotlib.image import imread

from tune_mtl import plots
from tune_mtl.importance import TOP_TRIALS, load_study, param_importances
from tune_mtl.searcher import STUDY_FILE

optuna.logging.set_verbosity(optuna.logging.WARNING)


def stored_study(directory: Path, *, trials: int, pruned: int = 0, constant_task2: bool = False):
    """Task 1's accuracy follows gamma only and task 2's the branch width only, as in a study
    written by the search (journal file, two maximised objectives)."""
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(directory / STUDY_FILE))
    )
    study = optuna.create_study(
        study_name="closed-form", storage=storage, directions=["maximize", "maximize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )  # fmt: skip
    for number in range(trials + pruned):
        trial = study.ask()
        gamma = trial.suggest_float("gamma", 0.0, 1.0)
        trial.suggest_float("learning_rate", 3e-4, 1e-2, log=True)
        width = trial.suggest_int("task2_width", 16, 256, log=True)
        if number >= trials:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        task2 = 0.5 if constant_task2 else 0.5 + 0.4 * np.log(width / 16) / np.log(16)
        study.tell(trial, [0.3 + 0.6 * gamma, task2])
    return study


def test_each_task_ranks_the_hyperparameter_that_drives_it_first(tmp_path: Path) -> None:
    stored_study(tmp_path, trials=60, pruned=20)
    importances = param_importances(load_study(tmp_path, "closed-form"))
    assert importances.completed_trials == 60
    assert importances.varied_params == ("gamma", "learning_rate", "task2_width")
    task1, task2 = importances.per_task
    assert list(task1)[0] == "gamma" and task1["gamma"] > 0.5
    assert list(task2)[0] == "task2_width" and task2["task2_width"] > 0.5
    for shares in (task1, task2):
        assert set(shares) == set(importances.varied_params)
        assert sum(shares.values()) == pytest.approx(1.0)


def test_too_few_completed_trials_give_a_message_not_numbers(tmp_path: Path) -> None:
    stored_study(tmp_path, trials=2 * TOP_TRIALS - 1, pruned=30)
    importances = param_importances(load_study(tmp_path, "closed-form"))
    assert importances.per_task is None
    assert importances.message == (
        f"Hyperparameter importance needs at least {2 * TOP_TRIALS} completed trials, but this "
        f"search has {2 * TOP_TRIALS - 1} of {2 * TOP_TRIALS + 29}; the others were stopped "
        "early or failed. Run more trials, or pass `--scheduler none`, to see it."
    )


def test_a_task_with_one_accuracy_everywhere_has_no_importance(tmp_path: Path) -> None:
    stored_study(tmp_path, trials=20, constant_task2=True)
    task1, task2 = param_importances(load_study(tmp_path, "closed-form")).per_task
    assert list(task1)[0] == "gamma" and task2 is None

    path = plots.save_png(
        plots.importance_figure((task1, task2), task_names=("shape", "family")),
        tmp_path / "importance.png",
    )
    assert imread(path).std() > 0
