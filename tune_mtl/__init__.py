"""tune-mtl: multi-objective hyperparameter search for multi-task Keras models.

``tune_mtl.search(...)`` runs a search on Ray Tune with Optuna and returns a `SearchResult` whose
``trials`` and ``pareto`` are pandas DataFrames. Importing this package does not import TensorFlow
or Ray; they load with the first function that needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "search",
    "load_results",
    "SearchResult",
    "load_dataset",
    "pareto_mask",
    "hypervolume_2d",
    "knee_index",
    "TuneMtlError",
]

from tune_mtl.errors import TuneMtlError
from tune_mtl.pareto import hypervolume_2d, knee_index, pareto_mask
from tune_mtl.results import SearchResult, load_results

if TYPE_CHECKING:
    from tune_mtl.data import load_dataset
    from tune_mtl.search import search


def __getattr__(name: str) -> Any:
    if name == "search":
        from tune_mtl.search import search

        return search
    if name == "load_dataset":
        from tune_mtl.data import load_dataset

        return load_dataset
    raise AttributeError(f"module 'tune_mtl' has no attribute {name!r}")
