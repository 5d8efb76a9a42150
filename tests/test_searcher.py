from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray import cloudpickle

from tune_mtl.data import synthetic
from tune_mtl.objectives import Objectives
from tune_mtl.results import STUDY_FILE
from tune_mtl.searcher import make_searcher
from tune_mtl.space import load_space
from tune_mtl.tasks import Task

OBJECTIVES = Objectives.for_tasks(synthetic.TASKS, [0.25, 0.5])


def space_file(tmp_path: Path, params: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(f"params:\n{params}")
    return path


def load_study(directory: Path, name: str) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(directory / STUDY_FILE)))
    return optuna.load_study(study_name=name, storage=storage)


def test_optuna_is_told_complete_pruned_and_failed_truthfully(tmp_path: Path) -> None:
    space = load_space(space_file(tmp_path, "  gamma: {type: uniform, low: 0, high: 1}\n"
                                            "  learning_rate: {type: loguniform, low: 1e-4, high: 1e-2}\n"))  # fmt: skip
    searcher = make_searcher(space, OBJECTIVES, sampler="tpe", trials=3, max_epochs=3, seed=0,
                             study_dir=tmp_path, study_name="s")  # fmt: skip
    configs = [searcher.suggest(f"t{i}") for i in range(3)]
    assert all(0 <= c["gamma"] <= 1 and 1e-4 <= c["learning_rate"] <= 1e-2 for c in configs)
    values = {"val_shape_accuracy": 0.8, "val_family_accuracy": 0.9}
    searcher.on_trial_complete("t0", {**values, "training_iteration": 3})
    searcher.on_trial_complete("t1", {**values, "training_iteration": 1})  # stopped early
    searcher.on_trial_complete("t2", {**values, "training_iteration": 2}, error=True)

    study = load_study(tmp_path, "s")  # read back from the journal file
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.FAIL,
    ]
    assert study.trials[0].values == [0.8, 0.9]
    assert [t.params["gamma"] for t in study.trials] == [c["gamma"] for c in configs]
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE] * 2


def test_start_points_come_first_then_the_sampler_and_not_again_on_resume(
    tmp_path: Path,
) -> None:
    space = load_space(space_file(tmp_path, "  gamma: {type: uniform, low: 0, high: 1}\n"
                                            "  branch_width: {type: int, low: 8, high: 64}\n"
                                            "start:\n  - {gamma: 0.25, branch_width: 32}\n"
                                            "  - {gamma: 0.75}\n"))  # fmt: skip
    searcher = make_searcher(space, OBJECTIVES, sampler="random", trials=4, max_epochs=1, seed=0,
                             study_dir=tmp_path, study_name="s")  # fmt: skip
    configs = [searcher.suggest(f"t{i}") for i in range(3)]
    assert configs[0] == {"gamma": 0.25, "branch_width": 32}
    assert configs[1]["gamma"] == 0.75 and 8 <= configs[1]["branch_width"] <= 64
    assert configs[2]["gamma"] not in (0.25, 0.75)
    for index in range(3):
        searcher.on_trial_complete(
            f"t{index}", {"val_shape_accuracy": 0.5, "val_family_accuracy": 0.5,
                          "training_iteration": 1}
        )  # fmt: skip

    # The same study opened again, as a resumed search does, does not queue its start again.
    again = make_searcher(space, OBJECTIVES, sampler="random", trials=4, max_epochs=1, seed=1,
                          study_dir=tmp_path, study_name="s")  # fmt: skip
    assert again.suggest("t3")["gamma"] not in (0.25, 0.75)
    assert len(load_study(tmp_path, "s").trials) == 4


@pytest.mark.parametrize("constraints", [None, {"family": {"min": 0.5}}])
def test_trials_completed_again_after_a_killed_driver_keep_the_study_s_outcome(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, constraints: dict | None
) -> None:
    """A driver killed after Optuna was told but before Ray saved its searcher: the resumed
    searcher hears of the same trials' ends again."""
    objectives = Objectives.for_tasks(synthetic.TASKS, [0.25, 0.5], constraints=constraints)
    space = load_space(space_file(tmp_path, "  gamma: {type: uniform, low: 0, high: 1}\n"))
    searcher = make_searcher(space, objectives, sampler="tpe", trials=3, max_epochs=3, seed=0,
                             study_dir=tmp_path, study_name="s")  # fmt: skip
    for trial_id in ("t0", "t1"):
        searcher.suggest(trial_id)
    saved = cloudpickle.dumps(searcher)  # Ray's last save before the kill
    values = {"val_shape_accuracy": 0.8, "val_family_accuracy": 0.9}
    searcher.on_trial_complete("t0", {**values, "training_iteration": 3})
    searcher.on_trial_complete("t1", {**values, "training_iteration": 1})  # stopped early

    resumed = cloudpickle.loads(saved)
    caplog.clear()
    with caplog.at_level("WARNING"), warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed.on_trial_complete("t0", {"val_shape_accuracy": 0.1, "val_family_accuracy": 0.1,
                                         "training_iteration": 3})  # fmt: skip
        resumed.on_trial_complete("t1", {**values, "training_iteration": 1})
    assert caplog.records == []
    study = load_study(tmp_path, "s")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert study.trials[0].values == ([0.8] if constraints else [0.8, 0.9])
    resumed.suggest("t2")
    assert len(load_study(tmp_path, "s").trials) == 3


def test_grid_space_visits_every_point_once(tmp_path: Path) -> None:
    space = load_space(space_file(tmp_path, "  gamma: {type: grid, values: [0.0, 0.5, 1.0]}\n"))
    searcher = make_searcher(space, OBJECTIVES, sampler="tpe", trials=3, max_epochs=1, seed=0,
                             study_dir=tmp_path, study_name="grid")  # fmt: skip
    gammas = []
    for i in range(3):
        gammas.append(searcher.suggest(f"g{i}")["gamma"])
        searcher.on_trial_complete(
            f"g{i}",
            {"val_shape_accuracy": 0.5, "val_family_accuracy": 0.5, "training_iteration": 1},
        )
    assert sorted(gammas) == [0.0, 0.5, 1.0]


def test_simplex_weights_regression_direction_and_constraints_reach_optuna(tmp_path: Path) -> None:
    objectives = Objectives.for_tasks(
        [Task("item", classes="abc"), Task("size", kind="regression"), Task("group", classes="xy")],
        [1 / 3, 2.0, 0.5],
        constraints={"group": {"min": 0.9}},
    )
    path = tmp_path / "space.yaml"
    path.write_text(
        "loss_weights: {type: simplex}\nparams:\n  dropout: {type: uniform, low: 0, high: 0.5}\n"
    )
    searcher = make_searcher(load_space(path), objectives, sampler="tpe", trials=2, max_epochs=2,
                             seed=0, study_dir=tmp_path, study_name="c")  # fmt: skip
    config = searcher.suggest("a")
    assert {"simplex_item", "simplex_size", "simplex_group"} <= set(config)
    searcher.suggest("b")
    result = {"val_item_accuracy": 0.8, "val_size_mae": 1.0, "training_iteration": 2}
    searcher.on_trial_complete("a", {**result, "val_group_accuracy": 0.95})
    searcher.on_trial_complete("b", {**result, "val_group_accuracy": 0.7})
    study = load_study(tmp_path, "c")
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE,
                                optuna.study.StudyDirection.MINIMIZE]  # fmt: skip
    assert [t.values for t in study.trials] == [[0.8, 1.0], [0.8, 1.0]]
    violations = [t.constraints for t in study.trials]
    assert violations == [{"group": pytest.approx(0.9 - 0.95)}, {"group": pytest.approx(0.9 - 0.7)}]


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random"])
def test_every_searcher_pickles_as_ray_saves_it_and_proposes_on(tmp_path: Path, sampler) -> None:
    """Ray pickles the searcher with the Tuner and in the experiment state it resumes from."""
    space = load_space(space_file(tmp_path, "  gamma: {type: uniform, low: 0, high: 1}\n"))
    searcher = make_searcher(space, OBJECTIVES, sampler=sampler, trials=8, max_epochs=2, seed=0,
                             study_dir=tmp_path, study_name="s")  # fmt: skip
    first = searcher.suggest("t0")
    searcher.on_trial_complete(
        "t0", {"val_shape_accuracy": 0.5, "val_family_accuracy": 0.6, "training_iteration": 2}
    )
    restored = cloudpickle.loads(cloudpickle.dumps(searcher))
    second = restored.suggest("t1")
    assert 0 <= first["gamma"] <= 1 and 0 <= second["gamma"] <= 1
    assert len(load_study(tmp_path, "s").trials) == 2
