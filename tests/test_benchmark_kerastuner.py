"""Arm (f)'s KerasTuner pieces in process: the space file's ranges as KerasTuner declares them, and
a short budgeted Hyperband on synthetic data, recorded as the benchmark reads a run."""

from __future__ import annotations

import time
from pathlib import Path

import keras_tuner
import pytest

from benchmarks.analysis import hypervolume_at
from benchmarks.keras_loop import LoopSettings
from benchmarks.kerastuner_arm import declare, run_hyperband
from tune_mtl.data import load_dataset
from tune_mtl.objectives import Objectives
from tune_mtl.pareto import hypervolume_2d
from tune_mtl.space import Distribution, default_space_path, load_space


def test_the_space_files_ranges_are_declared_as_written() -> None:
    space = load_space(default_space_path())
    hp = keras_tuner.HyperParameters()
    values = {name: declare(hp, name, d) for name, d in space.params.items()}
    declared = {p.name: p.get_config() for p in hp.space}
    assert set(declared) == set(space.params) == set(values)
    assert {d.kind for d in space.params.values()} == {"uniform", "loguniform", "int", "choice"}
    for name, d in space.params.items():
        config = declared[name]
        if d.kind == "choice":
            assert list(config["values"]) == list(d.values)
            continue
        assert (config["min_value"], config["max_value"]) == (d.low, d.high)
        assert config["sampling"] == ("log" if d.kind == "loguniform" or d.log else "linear")
    hp = keras_tuner.HyperParameters()
    assert declare(hp, "units", Distribution("int", low=8, high=64, step=8)) == 8
    assert hp.space[0].get_config()["step"] == 8
    with pytest.raises(ValueError, match="'gamma' is a grid parameter"):
        declare(hp, "gamma", Distribution("grid", values=(0.0, 1.0)))
    conditional = Distribution("uniform", low=0.5, high=5.0, when=(("weighting", ("dwa",)),))
    with pytest.raises(ValueError, match="'dwa_temperature' is a conditional parameter"):
        declare(hp, "dwa_temperature", conditional)


def test_one_hyperband_iteration_records_its_trials_as_a_run(tmp_path: Path) -> None:
    data = load_dataset("synthetic", seed=0)
    objectives = Objectives.for_tasks(data.tasks, data.references)
    space = load_space(default_space_path())
    # One iteration of three epochs at most ends on its own, well within the budget: its first
    # bracket trains 3 trials for 1 epoch and carries the best on to 3 epochs, its second trains
    # fresh trials for 3 epochs.
    budget = 3600.0
    trials = run_hyperband(
        data, space, LoopSettings("small", 3, 64, None), objectives, seed=0,
        t0=time.monotonic(), budget=budget, directory=tmp_path, name="f-seed0", iterations=1,
    )  # fmt: skip
    assert [t["id"] for t in trials] == [f"{i:04d}" for i in range(len(trials))]
    first_rung = trials[:3]
    assert [(t["status"], t["epochs"], t["resumed_from"], t["test"]) for t in first_rung] == [
        ("stopped", 1, None, None)
    ] * 3
    carried = trials[3]
    assert carried["status"] == "completed" and carried["epochs"] == 3
    assert carried["resumed_from"] in {t["id"] for t in first_rung}
    assert carried["config"] == next(
        t["config"] for t in first_rung if t["id"] == carried["resumed_from"]
    )
    fresh = trials[4:]
    assert len(fresh) >= 1
    assert [(t["status"], t["epochs"], t["resumed_from"]) for t in fresh] == [
        ("completed", 3, None)
    ] * len(fresh)
    for trial in [carried, *fresh]:
        assert len(trial["test"]) == 2 and all(0 <= v <= 1 for v in trial["test"])
    for trial in trials:
        assert set(trial["config"]) == set(space.params)
        assert trial["end_s"] < budget
    # Read back as a run: until another trial completes, the front is the carried trial alone.
    run = {"budget_s": budget, "objectives": objectives.to_dict(), "trials": trials}
    reference = objectives.reference_point
    assert carried["end_s"] < fresh[0]["end_s"]
    assert hypervolume_at(run, carried["end_s"]) == pytest.approx(
        hypervolume_2d([carried["test"]], reference)
    )


def test_the_budget_ends_hyperband_at_the_first_epoch_past_it(tmp_path: Path) -> None:
    data = load_dataset("synthetic", seed=0)
    objectives = Objectives.for_tasks(data.tasks, data.references)
    space = load_space(default_space_path())
    # A budget that has run out when the first epoch ends: the first trial stops there, is not
    # tested (it ended past the budget), and the oracle starts no other.
    trials = run_hyperband(
        data, space, LoopSettings("small", 3, 64, None), objectives, seed=0,
        t0=time.monotonic(), budget=0.0, directory=tmp_path, name="f-seed0",
    )  # fmt: skip
    assert [(t["id"], t["status"], t["epochs"], t["test"]) for t in trials] == [
        ("0000", "stopped", 1, None)
    ]
    assert trials[0]["end_s"] > 0
