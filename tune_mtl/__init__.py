"""tune-mtl: multi-objective hyperparameter search for multi-task Keras models.

``tune_mtl.search(model=build, data=load)`` searches the user's own model (``build(hp, tasks)``,
returning an uncompiled Keras model with one output per `Task`) on their own data (a `Dataset`,
from `Dataset.from_arrays`). It runs on Ray Tune with Optuna and returns a `SearchResult` whose
``trials`` and ``pareto`` are pandas DataFrames. ``tune_mtl.report(path)`` writes its HTML report
and ``tune_mtl.export_model(path, knee=True, out="model.keras")`` copies a chosen model out.
Importing this package does not import TensorFlow or Ray; they load with the first function that
needs them.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# TensorFlow reads this when it is imported. It turns its oneDNN kernels on by itself only on CPUs
# with AVX-512; on AVX2 they train the default search's trials faster (docs/onednn.md).
# TF_ENABLE_ONEDNN_OPTS=0 in the environment keeps them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__all__ = [
    "Task",
    "Dataset",
    "search",
    "resume",
    "load_results",
    "SearchResult",
    "format_front",
    "report",
    "Report",
    "export_model",
    "ExportedModel",
    "load_dataset",
    "pareto_mask",
    "hypervolume",
    "knee_index",
    "TuneMtlError",
    "SearchInterrupted",
]

from tune_mtl.data.spec import Dataset
from tune_mtl.errors import SearchInterrupted, TuneMtlError
from tune_mtl.pareto import hypervolume, knee_index, pareto_mask
from tune_mtl.results import SearchResult, format_front, load_results
from tune_mtl.tasks import Task

if TYPE_CHECKING:
    from tune_mtl.data import load_dataset
    from tune_mtl.export import ExportedModel, export_model
    from tune_mtl.report import Report, report
    from tune_mtl.search import resume, search

# Loaded on first use: TensorFlow, Ray, Optuna and matplotlib take seconds to import.
_LAZY = {
    "search": "tune_mtl.search",
    "resume": "tune_mtl.search",
    "load_dataset": "tune_mtl.data",
    "report": "tune_mtl.report",
    "Report": "tune_mtl.report",
    "export_model": "tune_mtl.export",
    "ExportedModel": "tune_mtl.export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        # Importing tune_mtl.search or tune_mtl.report binds the module's name here; the
        # function of the same name takes it back.
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tune_mtl' has no attribute {name!r}")
