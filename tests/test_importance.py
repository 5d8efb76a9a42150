"""Importance per objective on a stored study whose objectives are known closed forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from matplotlib.image import imread

from tune_mtl import plots
from tune_mtl.errors import TuneMtlError
from tune_mtl.importance import (
    TOP_TRIALS,
    load_study,
    param_importances,
    search_importances,
)
from tune_mtl.results import STUDY_FILE
from tune_mtl.tasks import Task

optuna.logging.set_verbosity(optuna.logging.WARNING)


def journal(directory: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(directory / STUDY_FILE))
    )


def stored_study(directory: Path, *, trials: int, pruned: int = 0, constant_task2: bool = False):
    """Task 1's accuracy follows gamma only and task 2's the branch width only, as in a study
    written by the search (journal file, two maximised objectives)."""
    study = optuna.create_study(
        study_name="closed-form", storage=journal(directory), directions=["maximize", "maximize"],
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
    task1, task2 = importances.per_objective
    assert list(task1)[0] == "gamma" and task1["gamma"] > 0.5
    assert list(task2)[0] == "task2_width" and task2["task2_width"] > 0.5
    for shares in (task1, task2):
        assert set(shares) == set(importances.varied_params)
        assert sum(shares.values()) == pytest.approx(1.0)


def test_too_few_completed_trials_give_a_message_not_numbers(tmp_path: Path) -> None:
    stored_study(tmp_path, trials=2 * TOP_TRIALS - 1, pruned=30)
    importances = param_importances(load_study(tmp_path, "closed-form"))
    assert importances.per_objective is None
    assert importances.message == (
        f"Hyperparameter importance needs at least {2 * TOP_TRIALS} completed trials, but this "
        f"search has {2 * TOP_TRIALS - 1} of {2 * TOP_TRIALS + 29}; the others were stopped "
        "early or failed. Run more trials, or pass `--scheduler none` so that no trial stops "
        "early, to see it."
    )
    (tmp_path / "unstopped").mkdir()
    stored_study(tmp_path / "unstopped", trials=2 * TOP_TRIALS - 1, pruned=0)
    unstopped = param_importances(load_study(tmp_path / "unstopped", "closed-form"))
    assert unstopped.message is not None
    assert unstopped.message.endswith(
        f"this search has {2 * TOP_TRIALS - 1} of {2 * TOP_TRIALS - 1}. Run more trials to see it."
    )


def test_a_task_with_one_accuracy_everywhere_has_no_importance(tmp_path: Path) -> None:
    stored_study(tmp_path, trials=20, constant_task2=True)
    task1, task2 = param_importances(load_study(tmp_path, "closed-form")).per_objective
    assert list(task1)[0] == "gamma" and task2 is None

    tasks = (Task("shape", classes="abcd"), Task("family", kind="binary"))
    path = plots.save_png(
        plots.importance_figure((task1, task2), tasks=tasks), tmp_path / "importance.png"
    )
    assert imread(path).std() > 0


def relu(value: float) -> float:
    return max(0.0, value)


def three_objective_study(directory: Path, *, trials: int) -> optuna.Study:
    """Item accuracy follows `a`, group accuracy `c`; the size MAE (minimised) drops when `b` is
    above 0.8 and rises when `a` is: its best trials are set apart by `b`, its worst by `a`, so
    reading the direction the wrong way round would rank `a` first."""
    study = optuna.create_study(
        study_name="three", storage=journal(directory),
        directions=["maximize", "maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=1),
    )  # fmt: skip
    for _ in range(trials):
        trial = study.ask()
        a, b, c = (trial.suggest_float(name, 0.0, 1.0) for name in "abc")
        size_mae = 2.0 - 7.5 * relu(b - 0.8) + 7.5 * relu(a - 0.8)
        study.tell(trial, [0.3 + 0.6 * a, 0.5 + 0.4 * c, size_mae])
    return study


@pytest.mark.filterwarnings("ignore:PedAnovaImportanceEvaluator computes:UserWarning")
def test_three_objectives_each_rank_their_driver_first_in_their_direction(tmp_path: Path) -> None:
    study = three_objective_study(tmp_path, trials=80)
    importances = search_importances(tmp_path, "three")
    assert importances.completed_trials == 80 and importances.top_trials == 8
    item, group, size = importances.per_objective
    assert list(item)[0] == "a" and list(group)[0] == "c" and list(size)[0] == "b"
    for shares in (item, group, size):
        assert sum(shares.values()) == pytest.approx(1.0)

    # The same study with the MAE maximised: its "best" are now the trials `a` ruins.
    flipped = optuna.importance.get_param_importances(
        study,
        evaluator=optuna.importance.PedAnovaImportanceEvaluator(target_quantile=7.5 / 80),
        target=lambda trial: -trial.values[2],
    )
    assert list(flipped)[0] == "a"


def test_a_folder_without_its_study_gets_a_message(tmp_path: Path) -> None:
    importances = search_importances(tmp_path, "anything")
    assert importances.per_objective is None
    assert importances.message.startswith(
        "No hyperparameter importance: the folder has no optuna.journal"
    )


def test_a_journal_without_the_study_names_what_it_holds(tmp_path: Path) -> None:
    stored_study(tmp_path, trials=2)
    with pytest.raises(
        TuneMtlError, match="holds no study named 'e2e' \\(it holds: closed-form\\)"
    ):
        load_study(tmp_path, "e2e")
