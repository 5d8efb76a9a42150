"""MO-ASHA: asynchronous successive halving that ranks trials on the Pareto front of metrics.

Ray Tune's `AsyncHyperBandScheduler` ranks a trial on one number; a multi-task trial ranked on a
scalar such as the mean accuracy loses the ends of the front, the trials best at one task. This
scheduler has ASHA's structure (one bracket, rungs at ``grace_period * reduction_factor**k`` below
``max_t``, a decision at the first result that reaches each rung) and takes its decision from
`tune_mtl.schedulers.pareto_rung.continues_at_rung`: Pareto rank, then crowding distance.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from ray.tune.experiment import Trial
from ray.tune.schedulers.trial_scheduler import FIFOScheduler, TrialScheduler

from tune_mtl.schedulers.pareto_rung import continues_at_rung, milestones
from tune_mtl.schedulers.start_points import StartPoints

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

__all__ = ["MOASHAScheduler"]


class MOASHAScheduler(FIFOScheduler):
    """Stops a trial at a rung unless its result is in the top 1/eta of the rung's Pareto ranking.

    Args:
        metric: the names of the reported metrics to rank on, at least two.
        mode: ``"max"`` or ``"min"`` for each metric.
        time_attr: a reported, increasing measure of progress; rungs and ``max_t`` are in it.
        max_t: a trial is stopped once ``time_attr`` reaches it (it has finished its budget).
        grace_period: the first rung; no trial is stopped on its rank before it.
        reduction_factor: eta; about 1/eta of the trials reaching a rung go on.
        keep: the search's start configurations, whose trials are never stopped on their rank;
            their results are recorded at the rungs all the same.

    Every trial stopped before ``max_t`` is kept in `stopped_at` with the ``time_attr`` it had
    then (its budget). A result with a NaN or infinite metric stops the trial and is not recorded
    at a rung.
    """

    def __init__(
        self,
        *,
        metric: Sequence[str],
        mode: Sequence[str],
        time_attr: str = "training_iteration",
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 4,
        keep: StartPoints | None = None,
    ) -> None:
        if isinstance(metric, str) or len(metric) < 2:
            raise ValueError(
                f"MO-ASHA ranks on two or more metrics, but got metric={metric!r}; "
                "pass a list of metric names, or use ASHAScheduler for one."
            )
        if isinstance(mode, str) or len(mode) != len(metric):
            raise ValueError(
                f"mode needs one 'max' or 'min' per metric, but got {mode=} for {metric=}."
            )
        if any(m not in ("max", "min") for m in mode):
            raise ValueError(f"each mode must be 'max' or 'min', but got {list(mode)}.")
        if not 0 < grace_period <= max_t:
            raise ValueError(
                f"0 < grace_period <= max_t must hold, but got {grace_period=}, {max_t=}."
            )
        if not reduction_factor > 1:
            raise ValueError(f"reduction_factor must be > 1, but got {reduction_factor}.")
        super().__init__()
        self._metrics = tuple(metric)
        self._signs = np.array([1.0 if m == "max" else -1.0 for m in mode])
        self._time_attr = time_attr
        self._max_t = max_t
        self._reduction_factor = reduction_factor
        self._keep = keep if keep is not None else StartPoints()
        # Largest first, as in Ray's ASHA: the first rung a result has reached is its rung.
        self._rungs: list[tuple[float, dict[str, np.ndarray]]] = [
            (milestone, {})
            for milestone in reversed(milestones(grace_period, reduction_factor, max_t))
        ]
        self._stopped_at: dict[str, float] = {}

    @property
    def metric(self) -> None:
        # Ray checks `scheduler.metric in result`, which a list cannot answer; `metrics` holds them.
        return None

    @property
    def metrics(self) -> tuple[str, ...]:
        return self._metrics

    @property
    def milestones(self) -> list[float]:
        """The rungs, smallest first."""
        return [milestone for milestone, _ in reversed(self._rungs)]

    @property
    def stopped_at(self) -> dict[str, float]:
        """Trial id -> ``time_attr`` at which this scheduler stopped the trial early."""
        return dict(self._stopped_at)

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        # Metrics and modes are fixed at construction; Tune's single `metric` cannot replace them.
        return metric is None and mode is None

    def on_trial_result(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> str:
        if self._time_attr not in result:
            return TrialScheduler.CONTINUE
        progress = result[self._time_attr]
        if progress >= self._max_t:
            return TrialScheduler.STOP
        point = self._point(result)
        if not np.isfinite(point).all():
            return self._stop(trial, progress)
        rung = self._rung_to_record(trial, progress)
        if rung is None:
            return TrialScheduler.CONTINUE
        others = np.array(list(rung.values())).reshape(-1, len(self._metrics))
        rung[trial.trial_id] = point
        if trial in self._keep or continues_at_rung(
            others, point, reduction_factor=self._reduction_factor
        ):
            return TrialScheduler.CONTINUE
        return self._stop(trial, progress)

    def on_trial_complete(
        self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]
    ) -> None:
        # A trial that ends on its own at a rung is recorded there, so later ones meet it.
        if self._time_attr not in result or any(name not in result for name in self._metrics):
            return
        point = self._point(result)
        rung = self._rung_to_record(trial, result[self._time_attr])
        if rung is not None and np.isfinite(point).all():
            rung[trial.trial_id] = point

    def debug_string(self) -> str:
        rungs = ", ".join(f"{milestone:g}: {len(recorded)}" for milestone, recorded in self._rungs)
        return f"Using MO-ASHA: stopped {len(self._stopped_at)}; results per rung {{{rungs}}}"

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))

    def _point(self, result: dict[str, Any]) -> np.ndarray:
        missing = [name for name in self._metrics if name not in result]
        if missing:
            raise ValueError(
                f"MO-ASHA ranks on {list(self._metrics)}, but the result lacks {missing}; "
                "report them every epoch or change the scheduler's metric."
            )
        return self._signs * np.array([result[name] for name in self._metrics], dtype=float)

    def _rung_to_record(self, trial: Trial, progress: float) -> dict[str, np.ndarray] | None:
        """The highest rung ``progress`` has reached, if the trial has no result there yet."""
        for milestone, recorded in self._rungs:
            if progress >= milestone:
                return None if trial.trial_id in recorded else recorded
        return None

    def _stop(self, trial: Trial, progress: float) -> str:
        self._stopped_at[trial.trial_id] = progress
        return TrialScheduler.STOP
