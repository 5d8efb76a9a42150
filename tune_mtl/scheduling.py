"""The early-stopping scheduler a search asks for, and what it ranks trials on."""

from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from tune_mtl.options import SearchOptions
from tune_mtl.results import VAL_OBJECTIVES

__all__ = ["SCHEDULER_METRIC", "make_scheduler", "scheduler_metric"]

# ASHA ranks trials on one number; the mean keeps trials that learn both tasks.
SCHEDULER_METRIC = "val_mean_accuracy"
# Both schedulers judge a trial after 1, 4, 16, ... epochs and let about a quarter go on.
GRACE_PERIOD = 1
REDUCTION_FACTOR = 4


def _stops_early(options: SearchOptions) -> bool:
    return options.scheduler != "none" and options.max_epochs > 1


def make_scheduler(options: SearchOptions) -> TrialScheduler | None:
    """The scheduler for ``options.scheduler``; None when no trial can be stopped early."""
    if not _stops_early(options):
        return None
    if options.scheduler == "mo-asha":
        from tune_mtl.schedulers import MOASHAScheduler

        return MOASHAScheduler(
            metric=list(VAL_OBJECTIVES),
            mode=["max"] * len(VAL_OBJECTIVES),
            time_attr="training_iteration",
            max_t=options.max_epochs,
            grace_period=GRACE_PERIOD,
            reduction_factor=REDUCTION_FACTOR,
        )
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=SCHEDULER_METRIC,
        mode="max",
        max_t=options.max_epochs,
        grace_period=GRACE_PERIOD,
        reduction_factor=REDUCTION_FACTOR,
    )


def scheduler_metric(options: SearchOptions) -> str | list[str] | None:
    """What the scheduler ranks trials on, for summary.json; None without one."""
    if not _stops_early(options):
        return None
    return list(VAL_OBJECTIVES) if options.scheduler == "mo-asha" else SCHEDULER_METRIC
