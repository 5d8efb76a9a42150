"""MO-ASHA driven through its methods with closed-form training curves: no Ray cluster, no Keras."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from tune_mtl.data import fashion_mnist
from tune_mtl.objectives import Objectives
from tune_mtl.options import SearchOptions
from tune_mtl.schedulers import MOASHAScheduler, continues_at_rung
from tune_mtl.scheduling import make_scheduler, rungs
from tune_mtl.tasks import SCORE_COLUMN, Task

# item (10 classes) and group (3 classes), each from its constant predictor's accuracy.
TWO = Objectives.for_tasks(fashion_mnist.TASKS, references=[0.1, 1 / 3])
# The same and a regression task, whose mean absolute error falls from the median's 2.0.
THREE = Objectives.for_tasks(
    (*fashion_mnist.TASKS, Task("size", kind="regression")), references=[0.1, 1 / 3, 2.0]
)
METRICS = TWO.columns()


@dataclass(frozen=True)
class StubTrial:
    """All a scheduler reads from a Ray `Trial`."""

    trial_id: str


@dataclass(frozen=True)
class Curve:
    """Validation metrics that move from the constant predictor's to a final value as
    ``1 - exp(-epoch / tau)``: accuracies rise, a mean absolute error falls.

    ``gamma`` places the final accuracies on a trade-off (gamma 1 learns item only), ``quality``
    shrinks every metric towards the constant predictor's, as a poor learning rate would, and
    ``size_mae`` is the final error of the third task when the objectives have one.
    """

    gamma: float
    quality: float
    size_mae: float = 1.0
    objectives: Objectives = TWO
    tau: float = 3.0

    def result(self, epoch: int) -> dict[str, float]:
        objectives = self.objectives
        final = np.array(
            [0.25 + 0.7 * math.sin(math.pi / 2 * self.gamma) ** 0.5,
             0.4 + 0.55 * math.cos(math.pi / 2 * self.gamma) ** 0.5,
             self.size_mae][: len(objectives.objectives)]
        )  # fmt: skip
        reference = np.array([objectives.reference(name) for name in objectives.objectives])
        values = reference + (final - reference) * self.quality * (1 - math.exp(-epoch / self.tau))
        metrics = dict(zip(objectives.columns(), map(float, values), strict=True))
        # ASHA's scalar, as the trainable reports it.
        return {"training_iteration": epoch, **metrics, SCORE_COLUMN: objectives.score(metrics)}


@dataclass(frozen=True)
class Call:
    trial_id: str
    result: dict[str, float]
    decision: str


def drive(
    scheduler: TrialScheduler, curves: list[Curve], *, max_t: int, concurrency: int = 3
) -> tuple[dict[str, int], list[Call]]:
    """Runs trials round-robin, ``concurrency`` at once, as Tune would.

    Returns the epochs each trial ran and every `on_trial_result` call in order.
    """
    waiting = [(f"t{index:03d}", curve) for index, curve in enumerate(curves)]
    running: dict[str, tuple[Curve, int]] = {}
    epochs: dict[str, int] = {}
    calls: list[Call] = []
    while waiting or running:
        while waiting and len(running) < concurrency:
            trial_id, curve = waiting.pop(0)
            scheduler.on_trial_add(None, StubTrial(trial_id))
            running[trial_id] = (curve, 0)
        for trial_id, (curve, done) in list(running.items()):
            result = curve.result(done + 1)
            decision = scheduler.on_trial_result(None, StubTrial(trial_id), result)
            calls.append(Call(trial_id, result, decision))
            running[trial_id] = (curve, done + 1)
            if decision == TrialScheduler.STOP or done + 1 == max_t:
                scheduler.on_trial_complete(None, StubTrial(trial_id), result)
                epochs[trial_id] = done + 1
                del running[trial_id]
    return epochs, calls


def trade_off_curves(count: int, *, seed: int, objectives: Objectives = TWO) -> list[Curve]:
    rng = np.random.default_rng(seed)
    gammas, qualities = rng.random(count), rng.uniform(0.6, 1, count)
    size_maes = rng.uniform(0.3, 1.8, count)
    return [
        Curve(float(g), float(q), float(mae), objectives)
        for g, q, mae in zip(gammas, qualities, size_maes, strict=True)
    ]


def mo_asha(objectives: Objectives = TWO, **kwargs: float) -> MOASHAScheduler:
    """MO-ASHA as the search builds it: on the objectives' columns and directions."""
    settings = {"max_t": 27, "grace_period": 1, "reduction_factor": 3, **kwargs}
    return MOASHAScheduler(metric=objectives.columns(), mode=objectives.modes, **settings)


def test_rungs_are_grace_times_powers_of_eta_below_max_t() -> None:
    assert mo_asha().milestones == [1, 3, 9]
    assert mo_asha(reduction_factor=4).milestones == [1, 4, 16]
    assert mo_asha(grace_period=2, reduction_factor=2, max_t=10).milestones == [2, 4, 8]
    assert mo_asha(max_t=1).milestones == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"metric": "val_item_accuracy", "mode": "max"},
            "two or more metrics, but got metric='val_item_accuracy'",
        ),
        (
            {"metric": METRICS, "mode": ["max"]},
            "one 'max' or 'min' per metric, but got mode=\\['max'\\]",
        ),
        ({"metric": METRICS, "mode": ["max", "up"]}, "'max' or 'min', but got \\['max', 'up'\\]"),
        (
            {"metric": METRICS, "mode": ["max"] * 2, "grace_period": 5, "max_t": 4},
            "grace_period=5, max_t=4",
        ),
        (
            {"metric": METRICS, "mode": ["max"] * 2, "reduction_factor": 1},
            "reduction_factor must be > 1, but got 1",
        ),
    ],
)
def test_bad_settings_are_one_line_naming_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MOASHAScheduler(**kwargs)


@pytest.mark.parametrize("objectives", [TWO, THREE], ids=["two tasks", "three with an MAE"])
def test_decisions_replay_the_pure_rule_and_stopped_trials_keep_their_budget(
    objectives: Objectives,
) -> None:
    columns = objectives.columns()
    for seed in range(5):
        scheduler = mo_asha(objectives)
        curves = trade_off_curves(30, seed=seed, objectives=objectives)
        epochs, calls = drive(scheduler, curves, max_t=27)
        # Replay every call on rungs kept here, from the reported results alone, with the
        # minimised metric negated as the pure rule expects.
        rungs: dict[int, list[list[float]]] = {1: [], 3: [], 9: []}
        for call in calls:
            epoch = int(call.result["training_iteration"])
            point = list(objectives.signs * [call.result[name] for name in columns])
            expected = "STOP" if epoch == 27 else "CONTINUE"
            if epoch in rungs:
                if not continues_at_rung(
                    np.array(rungs[epoch]).reshape(-1, len(columns)), point, reduction_factor=3
                ):
                    expected = "STOP"
                rungs[epoch].append(point)
            assert call.decision == expected, (seed, call)
        stopped = {
            c.trial_id: c.result["training_iteration"] for c in calls if c.decision == "STOP"
        }
        assert scheduler.stopped_at == {t: e for t, e in stopped.items() if e < 27}
        assert {t: e for t, e in epochs.items() if e < 27} == scheduler.stopped_at
        assert 0 < len(scheduler.stopped_at) < len(curves)
        assert all(len(r) > 0 for r in rungs.values())  # every rung judged someone


def test_never_stops_the_best_trial_on_either_task_where_asha_on_the_score_does() -> None:
    """The ends of the front are what a scalar loses; ASHA on the mean improvement over the
    constant predictors (``val_score``) stops them, MO-ASHA not."""
    rng = np.random.default_rng(0)
    middle = [
        Curve(float(g), float(q))
        for g, q in zip(rng.uniform(0.3, 0.7, 10), rng.uniform(0.85, 1, 10), strict=True)
    ]
    curves = [*middle, Curve(1.0, quality=1.0), Curve(0.0, quality=1.0)]  # the ends arrive last
    ends = {"t010", "t011"}
    assert all(
        c.result(27)[SCORE_COLUMN] > max(end.result(27)[SCORE_COLUMN] for end in curves[10:])
        for c in middle
    )

    asha = ASHAScheduler(
        metric=SCORE_COLUMN, mode="max", max_t=27, grace_period=1, reduction_factor=3
    )
    asha_epochs, _ = drive(asha, curves, max_t=27)
    assert any(asha_epochs[t] < 27 for t in ends)

    scheduler = mo_asha()
    epochs, _ = drive(scheduler, curves, max_t=27)
    assert all(epochs[t] == 27 for t in ends)
    assert len(scheduler.stopped_at) >= 6  # and it does stop the dominated middle


def test_a_non_dominated_result_goes_on_while_the_rung_is_young() -> None:
    scheduler = mo_asha(reduction_factor=4)
    points = [(0.5, 0.5), (0.6, 0.4), (0.4, 0.6), (0.45, 0.55)]  # a front of 4, none dominated
    for index, (item, group) in enumerate(points):
        result = {"training_iteration": 1, METRICS[0]: item, METRICS[1]: group}
        assert scheduler.on_trial_result(None, StubTrial(f"t{index}"), result) == "CONTINUE"
    dominated = {"training_iteration": 1, METRICS[0]: 0.45, METRICS[1]: 0.5}
    assert scheduler.on_trial_result(None, StubTrial("t9"), dominated) == "STOP"
    assert scheduler.stopped_at == {"t9": 1}
    # A trial is judged once per rung: its next result before rung 4 goes on.
    assert (
        scheduler.on_trial_result(None, StubTrial("t0"), {**dominated, "training_iteration": 2})
        == "CONTINUE"
    )


def test_min_mode_ranks_losses_like_negated_accuracies() -> None:
    scheduler = MOASHAScheduler(
        metric=["loss1", "loss2"], mode=["min", "min"], max_t=9, reduction_factor=3
    )
    first = {"training_iteration": 1, "loss1": 0.5, "loss2": 0.5}
    worse = {"training_iteration": 1, "loss1": 0.6, "loss2": 0.5}
    better = {"training_iteration": 1, "loss1": 0.4, "loss2": 0.5}
    assert scheduler.on_trial_result(None, StubTrial("a"), first) == "CONTINUE"
    assert scheduler.on_trial_result(None, StubTrial("b"), worse) == "STOP"
    assert scheduler.on_trial_result(None, StubTrial("c"), better) == "CONTINUE"


def test_three_objectives_with_an_mae_rank_a_lower_error_as_better() -> None:
    scheduler = mo_asha(THREE, max_t=9)
    assert scheduler.metrics == ("val_item_accuracy", "val_group_accuracy", "val_size_mae")
    item, group, size = THREE.columns()

    def result(mae: float) -> dict[str, float]:
        return {"training_iteration": 1, item: 0.5, group: 0.5, size: mae}

    assert scheduler.on_trial_result(None, StubTrial("a"), result(1.0)) == "CONTINUE"
    assert scheduler.on_trial_result(None, StubTrial("worse"), result(1.2)) == "STOP"
    assert scheduler.on_trial_result(None, StubTrial("better"), result(0.8)) == "CONTINUE"
    assert scheduler.stopped_at == {"worse": 1}


def search_options(
    scheduler: str, *, max_epochs: int = 27, reduction_factor: int = 4
) -> SearchOptions:
    return SearchOptions(
        trials=8, data="synthetic", space=Path("space.yaml"), model="small",
        max_epochs=max_epochs, batch_size=32, examples_per_epoch=None, concurrency=None,
        cpus_per_trial=1.0, gpus_per_trial=0.0, sampler="tpe", scheduler=scheduler,
        results=Path("results"), name="x", seed=0, data_dir=None, storage_path=None,
        max_failures=0, reduction_factor=reduction_factor,
    )  # fmt: skip


def test_the_search_ranks_mo_asha_on_the_objectives_and_asha_on_the_score() -> None:
    objectives = Objectives.for_tasks(
        THREE.tasks, references=THREE.references, constraints={"group": {"min": 0.5}}
    )
    mo = make_scheduler(search_options("mo-asha"), objectives)
    assert isinstance(mo, MOASHAScheduler)
    assert mo.metrics == ("val_item_accuracy", "val_size_mae")  # the constraint is not ranked
    assert mo.milestones == [1, 4, 16]
    first = {"training_iteration": 1, "val_item_accuracy": 0.5, "val_size_mae": 1.0}
    assert mo.on_trial_result(None, StubTrial("a"), first) == "CONTINUE"
    worse = {**first, "val_size_mae": 1.1}  # a larger error: dominated
    assert mo.on_trial_result(None, StubTrial("b"), worse) == "STOP"
    asha = make_scheduler(search_options("asha"), objectives)
    assert isinstance(asha, ASHAScheduler)
    assert (asha.metric, asha._mode) == (SCORE_COLUMN, "max")
    assert make_scheduler(search_options("none"), objectives) is None
    assert make_scheduler(search_options("mo-asha", max_epochs=1), objectives) is None


def test_the_reduction_factor_sets_both_schedulers_rungs() -> None:
    options = search_options("mo-asha", max_epochs=32, reduction_factor=5)
    assert rungs(options) == [1, 5, 25]
    mo = make_scheduler(options, TWO)
    assert isinstance(mo, MOASHAScheduler)
    assert mo.milestones == [1, 5, 25]
    asha = make_scheduler(search_options("asha", max_epochs=32, reduction_factor=5), TWO)
    assert isinstance(asha, ASHAScheduler)
    (bracket,) = asha._brackets
    assert sorted(milestone for milestone, _ in bracket._rungs) == [1, 5, 25]
    assert rungs(search_options("asha", max_epochs=32)) == [1, 4, 16]
    assert rungs(search_options("none", max_epochs=32)) == []


def test_max_t_ends_a_trial_without_counting_it_as_stopped_early() -> None:
    scheduler = mo_asha(max_t=3)
    result = {"training_iteration": 3, METRICS[0]: 0.1, METRICS[1]: 0.1}
    assert scheduler.on_trial_result(None, StubTrial("a"), result) == "STOP"
    assert scheduler.stopped_at == {}


def test_nan_or_inf_stops_the_trial_unrecorded_and_a_missing_metric_is_an_error() -> None:
    scheduler = mo_asha()
    nan = {"training_iteration": 1, METRICS[0]: float("nan"), METRICS[1]: 0.5}
    assert scheduler.on_trial_result(None, StubTrial("a"), nan) == "STOP"
    infinite = {**nan, METRICS[0]: float("inf")}
    assert scheduler.on_trial_result(None, StubTrial("i"), infinite) == "STOP"
    assert scheduler.stopped_at == {"a": 1, "i": 1}
    assert all(len(recorded) == 0 for _, recorded in scheduler._rungs)
    no_progress = {"epoch": 1}
    assert scheduler.on_trial_result(None, StubTrial("b"), no_progress) == "CONTINUE"
    with pytest.raises(ValueError, match="the result lacks \\['val_group_accuracy'\\]"):
        scheduler.on_trial_result(None, StubTrial("c"), {"training_iteration": 1, METRICS[0]: 0.5})


def test_a_trial_ending_on_its_own_is_recorded_for_later_ones() -> None:
    scheduler = mo_asha()
    best = {"training_iteration": 1, METRICS[0]: 0.9, METRICS[1]: 0.9}
    scheduler.on_trial_complete(None, StubTrial("a"), best)
    worse = {"training_iteration": 1, METRICS[0]: 0.5, METRICS[1]: 0.5}
    assert scheduler.on_trial_result(None, StubTrial("b"), worse) == "STOP"


def test_tune_cannot_override_the_metrics_and_state_survives_save_and_restore(
    tmp_path: Path,
) -> None:
    scheduler = mo_asha()
    assert scheduler.set_search_properties(None, None)
    assert not scheduler.set_search_properties(SCORE_COLUMN, "max")
    assert scheduler.metric is None and scheduler.metrics == tuple(METRICS)
    drive(scheduler, trade_off_curves(12, seed=0), max_t=27)
    scheduler.save(str(tmp_path / "scheduler.pkl"))
    restored = mo_asha()
    restored.restore(str(tmp_path / "scheduler.pkl"))
    assert restored.stopped_at == scheduler.stopped_at
    assert restored.debug_string() == scheduler.debug_string()
