"""The early-stopping scheduler a search asks for, and what it ranks trials on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.schedulers import TrialScheduler

from tune_mtl.objectives import Objectives
from tune_mtl.options import SearchOptions
from tune_mtl.schedulers.pareto_rung import milestones
from tune_mtl.schedulers.start_points import StartKeepingASHAScheduler, StartPoints
from tune_mtl.tasks import SCORE_COLUMN

__all__ = ["make_scheduler", "rungs", "scheduler_metric"]

# Both schedulers judge a trial after 1, r, r**2, ... epochs (r: the search's reduction_factor)
# and let about 1/r of the trials at each rung go on.
GRACE_PERIOD = 1


def _stops_early(options: SearchOptions) -> bool:
    return options.scheduler != "none" and options.max_epochs > 1


def rungs(options: SearchOptions) -> list[int]:
    """The epochs at which the scheduler judges trials: 1, r, r**2, ... below ``max_epochs``;
    none without a scheduler."""
    if not _stops_early(options):
        return []
    return [int(m) for m in milestones(GRACE_PERIOD, options.reduction_factor, options.max_epochs)]


def make_scheduler(
    options: SearchOptions,
    objectives: Objectives,
    *,
    start: Sequence[Mapping[str, Any]] = (),
) -> TrialScheduler | None:
    """The scheduler for ``options.scheduler``; None when no trial can be stopped early.

    ASHA ranks on one number, ``val_score``: the mean of each objective's improvement over its
    constant predictor (`tune_mtl.tasks.score`), so trials that learn every task survive and an
    accuracy and a mean absolute error mix on one scale. MO-ASHA ranks on the objectives' front.
    Neither stops a trial of the space's ``start`` configurations before ``max_epochs``.
    """
    if not _stops_early(options):
        return None
    keep = StartPoints(start)
    if options.scheduler == "mo-asha":
        from tune_mtl.schedulers import MOASHAScheduler

        return MOASHAScheduler(
            metric=objectives.columns(),
            mode=objectives.modes,
            time_attr="training_iteration",
            max_t=options.max_epochs,
            grace_period=GRACE_PERIOD,
            reduction_factor=options.reduction_factor,
            keep=keep,
        )
    return StartKeepingASHAScheduler(
        keep=keep,
        time_attr="training_iteration",
        metric=SCORE_COLUMN,
        mode="max",
        max_t=options.max_epochs,
        grace_period=GRACE_PERIOD,
        reduction_factor=options.reduction_factor,
    )


def scheduler_metric(options: SearchOptions, objectives: Objectives) -> str | list[str] | None:
    """What the scheduler ranks trials on, for summary.json; None without one."""
    if not _stops_early(options):
        return None
    return objectives.columns() if options.scheduler == "mo-asha" else SCORE_COLUMN
