"""Trial schedulers: MO-ASHA, early stopping that ranks trials on the Pareto front, and ASHA on
one metric.

`pareto_rung` is the decision, pure numpy; `mo_asha` is the Ray Tune scheduler around it, `asha`
Ray's ASHA with the same minimum of results at a rung. Importing this package does not import Ray;
the schedulers load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tune_mtl.schedulers.pareto_rung import (
    MIN_RESULTS_TO_JUDGE,
    continues_at_rung,
    crowding_distance,
    nondominated_ranks,
    rung_positions,
)

if TYPE_CHECKING:
    from tune_mtl.schedulers.asha import ASHAScheduler
    from tune_mtl.schedulers.mo_asha import MOASHAScheduler

__all__ = [
    "MIN_RESULTS_TO_JUDGE",
    "ASHAScheduler",
    "MOASHAScheduler",
    "continues_at_rung",
    "crowding_distance",
    "nondominated_ranks",
    "rung_positions",
]


def __getattr__(name: str) -> Any:
    if name == "MOASHAScheduler":
        from tune_mtl.schedulers.mo_asha import MOASHAScheduler

        return MOASHAScheduler
    if name == "ASHAScheduler":
        from tune_mtl.schedulers.asha import ASHAScheduler

        return ASHAScheduler
    raise AttributeError(f"module 'tune_mtl.schedulers' has no attribute {name!r}")
