"""A space's start configurations run all their epochs, whatever the scheduler makes of them.

ASHA decides at a rung from the results recorded there so far. The start configurations reach each
rung first, together, so each is judged against one or two others: Ray's ASHA stops the second to
arrive if it is below the first, MO-ASHA if the first dominates it. They are known-good settings
that differ by a loss weight, and their order early in training is noise: without this rule, ASHA
stopped one of the default space's two (at epoch 1 or 5 of 9) on two seeds of three of the search
benchmark on `multi_fashion`. Their results are still recorded at every rung, so the trials the
sampler proposes later meet them there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.experiment import Trial

__all__ = ["StartPoints", "StartKeepingASHAScheduler"]


class StartPoints:
    """Which trials run one of a space's ``start:`` configurations (compared on its keys)."""

    def __init__(self, points: Sequence[Mapping[str, Any]] = ()) -> None:
        self._points = tuple(dict(point) for point in points)

    def __contains__(self, trial: Trial) -> bool:
        return any(_holds(trial.config, point) for point in self._points)


def _holds(config: Mapping[str, Any], point: Mapping[str, Any]) -> bool:
    return all(name in config and config[name] == value for name, value in point.items())


class StartKeepingASHAScheduler(ASHAScheduler):
    """Ray Tune's ASHA, except that trials in ``keep`` are never stopped before ``max_t``."""

    def __init__(self, *, keep: StartPoints, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._keep = keep

    def on_trial_result(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision != TrialScheduler.STOP or trial not in self._keep:
            return decision
        if result[self._time_attr] >= self._max_t:
            return decision
        self._num_stopped -= 1  # counted by Ray's ASHA as it decided to stop
        return TrialScheduler.CONTINUE
