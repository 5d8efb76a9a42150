"""tune-mtl: multi-objective hyperparameter search for multi-task Keras models.

``tune_mtl.search(...)`` runs a search on Ray Tune with Optuna and returns a `SearchResult` whose
``trials`` and ``pareto`` are pandas DataFrames. Importing this package does not import TensorFlow
or Ray; they load with the first function that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "search",
    "resume",
    "load_results",
    "SearchResult",
    "load_dataset",
    "pareto_mask",
    "hypervolume_2d",
    "knee_index",
    "TuneMtlError",
    "SearchInterrupted",
]

from tune_mtl.errors import SearchInterrupted, TuneMtlError
from tune_mtl.pareto import hypervolume_2d, knee_index, pareto_mask
from tune_mtl.results import SearchResult, load_results

if TYPE_CHECKING:
    from tune_mtl.data import load_dataset
    from tune_mtl.search import resume, search


def __getattr__(name: str) -> Any:
    if name in ("search", "resume"):
        module = importlib.import_module("tune_mtl.search")
        # Importing the module binds its name here; the function takes that name back.
        globals().update(search=module.search, resume=module.resume)
        return globals()[name]
    if name == "load_dataset":
        from tune_mtl.data import load_dataset

        return load_dataset
    raise AttributeError(f"module 'tune_mtl' has no attribute {name!r}")
