"""A space's start configurations are never stopped early: through the schedulers' methods, and in
a real search through the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ray.tune.schedulers import TrialScheduler

from tests.conftest import run_cli
from tests.schedulers.test_mo_asha import TWO, search_options
from tune_mtl.schedulers import MOASHAScheduler
from tune_mtl.schedulers.start_points import StartKeepingASHAScheduler, StartPoints
from tune_mtl.scheduling import make_scheduler
from tune_mtl.tasks import SCORE_COLUMN

START = ({"gamma": 0.4, "learning_rate": 3.0e-3}, {"gamma": 0.6, "learning_rate": 3.0e-3})
ITEM, GROUP = TWO.columns()


@dataclass
class StubTrial:
    """All a scheduler reads from a Ray `Trial`."""

    trial_id: str
    config: dict[str, Any] = field(default_factory=dict)


def result(epoch: int, item: float, group: float) -> dict[str, float]:
    metrics = {ITEM: item, GROUP: group}
    return {"training_iteration": epoch, **metrics, SCORE_COLUMN: TWO.score(metrics)}


def test_a_trial_is_a_start_point_when_its_config_holds_every_value_the_point_names() -> None:
    start = StartPoints(START)
    assert StubTrial("a", {"gamma": 0.4, "learning_rate": 3.0e-3, "dropout": 0.2}) in start
    assert StubTrial("b", {"gamma": 0.6, "learning_rate": 0.003}) in start
    assert StubTrial("c", {"gamma": 0.5, "learning_rate": 3.0e-3}) not in start
    assert StubTrial("d", {"gamma": 0.4}) not in start  # learning_rate missing
    assert StubTrial("e", {"gamma": 0.4, "learning_rate": 3.0e-3}) not in StartPoints()


@pytest.mark.parametrize(
    ("scheduler", "kind", "counted"),
    [
        # Ray's ASHA counts the end at max_t as a stop; MO-ASHA counts early stops only.
        ("asha", StartKeepingASHAScheduler, "num_stopped=2"),
        ("mo-asha", MOASHAScheduler, "stopped 1;"),
    ],
)
def test_a_start_point_below_the_rung_goes_on_and_a_sampled_one_stops(
    scheduler: str, kind: type, counted: str
) -> None:
    built = make_scheduler(search_options(scheduler, max_epochs=3), TWO, start=START)
    assert isinstance(built, kind)
    first = StubTrial("first", dict(START[0]))
    second = StubTrial("second", {**START[1], "dropout": 0.1})
    sampled = StubTrial("sampled", {"gamma": 0.5, "learning_rate": 3.0e-3})
    for trial in (first, second, sampled):
        built.on_trial_add(None, trial)
    assert built.on_trial_result(None, first, result(1, 0.6, 0.8)) == TrialScheduler.CONTINUE
    # Below the first on both tasks (and on the mean improvement): either scheduler stops it.
    worse = result(1, 0.5, 0.7)
    assert built.on_trial_result(None, second, worse) == TrialScheduler.CONTINUE
    assert built.on_trial_result(None, sampled, worse) == TrialScheduler.STOP
    assert built.on_trial_result(None, second, result(2, 0.55, 0.75)) == TrialScheduler.CONTINUE
    assert built.on_trial_result(None, second, result(3, 0.58, 0.78)) == TrialScheduler.STOP
    assert counted in built.debug_string()


def test_without_start_points_the_second_start_configuration_is_stopped() -> None:
    built = make_scheduler(search_options("asha", max_epochs=3), TWO)
    first, second = StubTrial("first", dict(START[0])), StubTrial("second", dict(START[1]))
    for trial in (first, second):
        built.on_trial_add(None, trial)
    built.on_trial_result(None, first, result(1, 0.6, 0.8))
    assert built.on_trial_result(None, second, result(1, 0.5, 0.7)) == TrialScheduler.STOP


SPACE = """\
params:
  gamma: {type: uniform, low: 0.0, high: 1.0}
  learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-2}
start:
  - {gamma: 0.5, learning_rate: 1.0e-2}
  - {gamma: 0.5, learning_rate: 1.0e-4}
"""


@pytest.mark.e2e
def test_a_search_runs_a_start_configuration_out_that_asha_would_stop(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    done = run_cli(
        "search", "--data", "synthetic", "--trials", "3", "--max-epochs", "3",
        "--concurrency", "1", "--space", "space.yaml", "--results", ".", "--name", "s",
        "--seed", "1", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    experiment = tmp_path / "s"
    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    slow, fast = (
        trials.set_index("learning_rate").loc[rate, "trial_id"] for rate in (1.0e-4, 1.0e-2)
    )
    first_epoch = {}
    for trial_id in (slow, fast):
        with (experiment / f"trial_{trial_id}" / "result.json").open() as lines:
            first_epoch[trial_id] = json.loads(next(lines))[SCORE_COLUMN]
    # One trial at a time: the slow start reaches the rung at epoch 1 after the fast one, below
    # it, where ASHA stops a trial the sampler proposed.
    assert first_epoch[slow] < first_epoch[fast]
    by_id = trials.set_index("trial_id")
    assert by_id.loc[[slow, fast], "epochs"].tolist() == [3, 3]
    assert by_id.loc[[slow, fast], "status"].tolist() == ["completed", "completed"]
