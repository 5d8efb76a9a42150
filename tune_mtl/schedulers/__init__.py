"""Trial schedulers: MO-ASHA, early stopping that ranks trials on the Pareto front.

`pareto_rung` is the decision, pure numpy; `mo_asha` is the Ray Tune scheduler around it. Importing
this package does not import Ray; ``MOASHAScheduler`` loads it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tune_mtl.schedulers.pareto_rung import (
    continues_at_rung,
    crowding_distance,
    nondominated_ranks,
    rung_positions,
)

if TYPE_CHECKING:
    from tune_mtl.schedulers.mo_asha import MOASHAScheduler

__all__ = [
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
    raise AttributeError(f"module 'tune_mtl.schedulers' has no attribute {name!r}")
