"""ASHA on one metric: Ray Tune's `AsyncHyperBandScheduler` with MO-ASHA's minimum at a rung.

Ray's rung stops a trial whose result is below the (1 - 1/eta) quantile of the results recorded
there, from the second result on: the second trial to reach a rung is stopped whenever it is
below the first. Here a rung stops no trial before it holds `MIN_RESULTS_TO_JUDGE` other results,
as MO-ASHA's rung does; from then on the decision is Ray's.
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers.async_hyperband import AsyncHyperBandScheduler, _Bracket

from tune_mtl.schedulers.pareto_rung import MIN_RESULTS_TO_JUDGE

__all__ = ["ASHAScheduler"]


class _PatientBracket(_Bracket):
    def cutoff(self, recorded: dict[str, float]) -> Any:
        return None if len(recorded) < MIN_RESULTS_TO_JUDGE else super().cutoff(recorded)


class ASHAScheduler(AsyncHyperBandScheduler):
    """Ray Tune's ASHA (one bracket) whose rungs judge no trial before `MIN_RESULTS_TO_JUDGE`
    other results are recorded there."""

    def __init__(
        self,
        *,
        metric: str,
        mode: str,
        time_attr: str = "training_iteration",
        max_t: int = 100,
        grace_period: int = 1,
        reduction_factor: float = 4,
    ) -> None:
        super().__init__(
            time_attr=time_attr,
            metric=metric,
            mode=mode,
            max_t=max_t,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
        )
        self._brackets = [_PatientBracket(grace_period, max_t, reduction_factor, s=0)]
