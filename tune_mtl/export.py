"""`tune-mtl export`: one trial's model out of a search, as a `.keras` file with a JSON sidecar.

Which checkpoint: the search keeps only each trial's latest checkpoint, so the exported model is the
trial at its last epoch. That is the model whose validation metrics ``trials.csv`` records and,
for a front member, whose test metrics ``pareto.csv`` records; a trial stopped early is exported
as it was when stopped. The file is copied byte for byte; nothing is retrained or re-evaluated.

A trial with a learned loss weighting (`tune_mtl.weighting`) is exported the same way: its
checkpoint's ``model.keras`` is the user's model without the training wrapper, compiled with the
weights the trial ended with as float loss weights, so it loads with Keras alone; the learned
log-variances of ``uncertainty`` stay in the checkpoint's ``training.keras``.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tune_mtl.errors import TuneMtlError
from tune_mtl.results import (
    SearchResult,
    check_writable,
    load_results,
    replacing,
    why_no_front,
    write_atomically,
)
from tune_mtl.text import counted
from tune_mtl.trial_files import (
    count_parameters,
    epoch_history,
    latest_checkpoint,
    trial_config,
)
from tune_mtl.weights import WEIGHT_PREFIX

__all__ = ["ExportedModel", "export_model", "describe"]


@dataclass(frozen=True)
class ExportedModel:
    """The written model, its sidecar and what the sidecar says."""

    model: Path
    sidecar: Path
    info: dict[str, Any]


def _choose_trial(result: SearchResult, *, trial_id: str | None, knee: bool) -> str:
    if knee == (trial_id is not None):
        raise TuneMtlError(
            "pass exactly one of --knee or --trial ID (from Python: knee=True or trial_id=ID), "
            "to say which model to export."
        )
    if knee:
        knee_id = result.summary.knee_trial_id
        if not knee_id:
            raise TuneMtlError(
                f"{result.path} has no knee: {why_no_front(result)}, so the front is empty. "
                "Pass --trial ID with a trial from trials.csv."
            )
        return str(knee_id)
    known = result.trials["trial_id"].astype(str).tolist()
    if trial_id not in known:
        shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        raise TuneMtlError(f"trial {trial_id!r} is not in {result.path}/trials.csv ({shown}).")
    return str(trial_id)


def _input_specs(keras_file: Path) -> list[dict[str, Any]]:
    """Every input of the model, with its shape and dtype, from the file's architecture."""
    with zipfile.ZipFile(keras_file) as archive:
        config = json.loads(archive.read("config.json"))
    return [
        {
            "name": layer["config"].get("name"),
            "shape": layer["config"].get("batch_shape", [None])[1:],
            "dtype": layer["config"].get("dtype"),
        }
        for layer in config.get("config", {}).get("layers", [])
        if layer.get("class_name") == "InputLayer"
    ]


def _number(value: Any) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def export_model(
    experiment: str | Path,
    *,
    out: str | Path,
    trial_id: str | None = None,
    knee: bool = False,
    overwrite: bool = False,
) -> ExportedModel:
    """Copies a trial's last checkpoint to ``out`` (a `.keras` file) and writes ``out`` + `.json`.

    Args:
        experiment: the search's folder, ``results/NAME``.
        out: where the model goes; must end in ``.keras``. The sidecar is the same name in `.json`.
        trial_id: the trial to export (see ``trials.csv``); or
        knee: export the front's knee trial instead.
        overwrite: replace existing files at ``out`` and its sidecar.

    Returns:
        The paths written and the sidecar's content: the trial's configuration, each output with its
        task's kind, metric and class names, and its validation (and, for front members, test)
        metrics.
    """
    result = load_results(experiment)
    chosen = _choose_trial(result, trial_id=trial_id, knee=knee)
    model_path = Path(out)
    if model_path.suffix != ".keras":
        raise TuneMtlError(
            f"--out must end in .keras, the format keras.models.load_model reads, but got {out}."
        )
    sidecar_path = model_path.with_suffix(".json")
    folders = [str(p) for p in (model_path, sidecar_path) if p.is_dir()]
    if folders:
        raise TuneMtlError(
            f"--out: {folders[0]} is a folder, which export does not replace; pass a file name "
            "such as model.keras."
        )
    existing = [str(p) for p in (model_path, sidecar_path) if p.exists()]
    if existing and not overwrite:
        verb = "exists" if len(existing) == 1 else "exist"
        raise TuneMtlError(
            f"{' and '.join(existing)} already {verb}; pass --overwrite (overwrite=True from "
            "Python) or another --out."
        )
    if not model_path.parent.is_dir():
        raise TuneMtlError(f"{model_path.parent} is not a folder; create it or pass another --out.")
    check_writable(model_path.parent)

    checkpoint = latest_checkpoint(result.path, chosen)
    row = result.trials.set_index(result.trials["trial_id"].astype(str)).loc[chosen]
    history = epoch_history(result.path, chosen)
    at_epoch = history[history["training_iteration"] == checkpoint.epochs]
    validation = at_epoch.iloc[-1] if len(at_epoch) else row
    front = result.pareto.set_index(result.pareto["trial_id"].astype(str))
    tasks = result.objectives.tasks
    on_front = chosen in front.index
    summary = result.summary
    test = (
        {task.name: _number(front.loc[chosen].get(task.column("test"))) for task in tasks}
        if on_front
        else None
    )
    info: dict[str, Any] = {
        "trial_id": chosen,
        "search": summary.name,
        "experiment": str(result.path.resolve()),
        "data": summary.data,
        "model": summary.model,
        "status": row["status"],
        "on_front": on_front,
        "knee": chosen == summary.knee_trial_id,
        "epochs": checkpoint.epochs,
        "config": trial_config(result.path, chosen),
        "loss_weights": {
            task.name: _number(row.get(f"{WEIGHT_PREFIX}{task.name}")) for task in tasks
        },
        "inputs": _input_specs(checkpoint.path),
        "outputs": [
            {
                "output": task.name,
                "kind": task.kind,
                "metric": task.metric,
                "classes": list(task.classes),
            }  # fmt: skip
            for task in tasks
        ],
        "metrics": {
            "validation": {task.name: _number(validation[task.column("val")]) for task in tasks},
            "test": test,
        },
        "parameters": count_parameters(checkpoint.path),
        "checkpoint": str(checkpoint.path.resolve()),
        "versions": summary.versions,
    }
    with replacing(model_path) as temporary:
        shutil.copyfile(checkpoint.path, temporary)
    write_atomically(sidecar_path, json.dumps(info, indent=2) + "\n")
    return ExportedModel(model_path, sidecar_path, info)


def describe(exported: ExportedModel) -> str:
    """One line for the CLI: what was exported, where, and how good it is."""
    info = exported.info
    role = "knee" if info["knee"] else "front member" if info["on_front"] else info["status"]
    parts = [f"val {name} {value:.4f}" for name, value in info["metrics"]["validation"].items()]
    if info["metrics"]["test"]:
        parts += [f"test {name} {value:.4f}" for name, value in info["metrics"]["test"].items()]
    return (
        f"Exported trial {info['trial_id']} ({role}, {counted(info['epochs'], 'epoch')}) to "
        f"{exported.model} "
        f"with {exported.sidecar}: {', '.join(parts)}"
    )
