"""`tune-mtl report`: one HTML page and its PNGs for a finished search, readable without a network.

The page (``report/index.html`` in the search's folder) shows the front, every trial's validation
curves, the hypervolume as trials finished, hyperparameter importance per task and a table of the
front's members. Images are PNG files beside the page, or embedded in it with ``embed_images``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_mtl import plots
from tune_mtl.errors import TuneMtlError
from tune_mtl.pareto import hypervolume_2d, pareto_mask
from tune_mtl.results import TEST_OBJECTIVES, VAL_OBJECTIVES, SearchResult, load_results
from tune_mtl.trial_files import count_parameters, epoch_histories, latest_checkpoint

__all__ = ["Report", "report", "hypervolume_trajectory", "front_members"]

REPORT_DIR = "report"
INDEX_FILE = "index.html"


@dataclass(frozen=True)
class Report:
    """A written report: the page, the PNG of each figure, and why any figure is missing."""

    index: Path
    figures: dict[str, Path]
    notes: dict[str, str] = field(default_factory=dict)


def hypervolume_trajectory(
    trials: pd.DataFrame, histories: Mapping[str, pd.DataFrame], reference: tuple[float, float]
) -> pd.DataFrame:
    """Validation hypervolume and front size of the completed trials after each finished trial.

    Trials are taken in the order of their last report (``timestamp`` in ``result.json``); one
    that never reported counts last. Only completed trials enter the front, as in the search.
    """
    finished_at = [
        history["timestamp"].iloc[-1] if "timestamp" in history and len(history) else np.inf
        for history in (histories.get(t, pd.DataFrame()) for t in trials["trial_id"])
    ]
    ordered = trials.assign(_finished_at=finished_at).sort_values("_finished_at", kind="stable")
    points: list[tuple[float, float]] = []
    rows = []
    for count, trial in enumerate(ordered.itertuples(index=False), start=1):
        accuracies = tuple(float(getattr(trial, column)) for column in VAL_OBJECTIVES)
        if trial.status == "completed" and not np.isnan(accuracies).any():
            points.append(accuracies)  # type: ignore[arg-type]
        rows.append(
            {
                "finished": count,
                "trial_id": trial.trial_id,
                "hypervolume": hypervolume_2d(points, reference) if points else 0.0,
                "front_size": int(pareto_mask(points).sum()) if points else 0,
            }
        )
    return pd.DataFrame(rows, columns=["finished", "trial_id", "hypervolume", "front_size"])


def _parameter_count(experiment: Path, trial_id: str) -> float:
    try:
        return float(count_parameters(latest_checkpoint(experiment, trial_id).path))
    except TuneMtlError:
        return np.nan


def front_members(result: SearchResult) -> pd.DataFrame:
    """The front's table: knee, trial, configuration, accuracies, epochs, parameters, seconds."""
    tasks = [task["name"] for task in result.summary["tasks"]]
    params = [p for p in result.summary["params"] if p in result.pareto.columns]
    table = pd.DataFrame({"knee": np.where(result.pareto["knee"], "*", "")})
    table["trial"] = result.pareto["trial_id"]
    for param in params:
        table[param] = result.pareto[param]
    for split, columns in (("val", VAL_OBJECTIVES), ("test", TEST_OBJECTIVES)):
        for task, column in zip(tasks, columns, strict=True):
            table[f"{split} {task}"] = result.pareto[column] if column in result.pareto else np.nan
    table["epochs"] = result.pareto["epochs"]
    table["parameters"] = [
        _parameter_count(result.path, trial_id) for trial_id in result.pareto["trial_id"]
    ]
    table["seconds"] = result.pareto["seconds"]
    return table


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        if float(value).is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _table_html(table: pd.DataFrame, *, highlight: pd.Series | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in table.columns)
    body = []
    for position, row in enumerate(table.itertuples(index=False)):
        marked = highlight is not None and bool(highlight.iloc[position])
        cells = "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row)
        body.append(f'<tr class="knee">{cells}</tr>' if marked else f"<tr>{cells}</tr>")
    rows = "".join(body)
    table_html = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f'<div class="wide">{table_html}</div>'


def _image_html(path: Path, alt: str, *, embed: bool) -> str:
    source = (
        "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        if embed
        else path.name
    )
    return f'<img src="{source}" alt="{html.escape(alt)}">'


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px; padding: 0 1em;
       color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } tr.knee td { background: #fff4d6; font-weight: 600; }
.note { background: #f6f6f6; border-left: 4px solid #999; padding: 0.6em 1em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
.wide { overflow-x: auto; }
dt { font-weight: 600; } dd { margin: 0; } code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _overview_html(result: SearchResult, experiment_arg: str) -> str:
    summary = result.summary
    tasks = summary["tasks"]
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["status_counts"].items()))
    reference = ", ".join(f"{t['name']} {t['chance_accuracy']:.3g}" for t in tasks)
    minutes = summary.get("wall_seconds", np.nan) / 60
    items = {
        "Data set": f"{summary['dataset']}; tasks "
        + " and ".join(f"{t['name']} ({len(t['classes'])} classes)" for t in tasks),
        "Model": summary.get("model", ""),
        "Trials": f"{len(result.trials)} ({counts})",
        "Budget": f"up to {summary['max_epochs']} epochs a trial, batch {summary['batch_size']}",
        "Sampler, scheduler": f"{summary['sampler']}, {summary['scheduler']}",
        "Search time": f"{minutes:.1f} min",
        "Front": f"{summary['front_size']} trials; knee {summary.get('knee_trial_id')}",
        "Hypervolume": f"validation {summary['hypervolume_val']:.4f}, test "
        f"{summary['hypervolume_test']:.4f} (reference: chance accuracy, {reference})",
        "Versions": ", ".join(f"{k} {v}" for k, v in summary.get("versions", {}).items()),
    }
    rows = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items.items()
    )
    command = f"tune-mtl export {experiment_arg} --knee --out model.keras"
    return (
        f"<dl>{rows}</dl><p>Take the knee model away with <code>{html.escape(command)}</code>.</p>"
    )


def report(
    experiment: str | Path, *, out: str | Path | None = None, embed_images: bool = False
) -> Report:
    """Writes ``index.html`` and the PNGs for a finished search into ``out``.

    Args:
        experiment: the search's folder, ``results/NAME``.
        out: where to write; ``EXPERIMENT/report`` by default.
        embed_images: put the PNGs inside the page as well, so the page alone is the report.
    """
    from tune_mtl.importance import load_study, param_importances

    result = load_results(experiment)
    directory = Path(out) if out is not None else result.path / REPORT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    summary = result.summary
    task_names: tuple[str, str] = tuple(t["name"] for t in summary["tasks"])  # type: ignore[assignment]
    reference = tuple(summary["hypervolume_reference"])
    histories = epoch_histories(result.path, result.trials["trial_id"])

    figures: dict[str, Path] = {}
    notes: dict[str, str] = {}
    figures["front"] = plots.save_png(
        plots.front_figure(result.trials, result.pareto, task_names=task_names),
        directory / "front.png",
    )
    figures["curves"] = plots.save_png(
        plots.curves_figure(histories, result.trials, task_names=task_names),
        directory / "curves.png",
    )
    trajectory = hypervolume_trajectory(result.trials, histories, reference)  # type: ignore[arg-type]
    figures["hypervolume"] = plots.save_png(
        plots.hypervolume_figure(trajectory), directory / "hypervolume.png"
    )
    importances = param_importances(load_study(result.path, summary["name"]))
    if importances.per_task is None:
        notes["importance"] = importances.message or "No importance could be computed."
    else:
        figures["importance"] = plots.save_png(
            plots.importance_figure(importances.per_task, task_names=task_names),
            directory / "importance.png",
        )

    def image(name: str, alt: str) -> str:
        return _image_html(figures[name], alt, embed=embed_images)

    if "importance" in figures:
        importance_html = image("importance", "hyperparameter importance per task") + (
            f"<p>Optuna's PED-ANOVA over the {importances.completed_trials} completed trials: "
            f"how much each hyperparameter sets the best {importances.top_trials} trials of a "
            "task apart from the others. Trials stopped early do not count.</p>"
        )
    else:
        importance_html = f'<p class="note">{html.escape(notes["importance"])}</p>'
    front = front_members(result)
    all_trials = result.trials.drop(columns=["node_ip"], errors="ignore")
    name = html.escape(str(summary.get("name", result.path.name)))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tune-mtl report: {name}</title><style>{STYLE}</style></head>
<body>
<h1>Search {name}</h1>
{_overview_html(result, str(experiment))}
<h2>Pareto front</h2>
{image("front", "the Pareto front of both tasks, validation and test")}
<p>Each point is a trial: {html.escape(task_names[0])} accuracy against
{html.escape(task_names[1])} accuracy. Front members (completed trials that no other completed
trial beats on both validation accuracies) are coloured by gamma and joined by the front's
staircase; the star is the knee, the member nearest the ideal point once each accuracy is scaled
from chance (0) to the front's best (1). Only front members were evaluated on the test split.</p>
<h2>Front members</h2>
{_table_html(front, highlight=front["knee"] == "*")}
<p>Accuracies are those of each trial's last epoch, whose checkpoint <code>tune-mtl export</code>
copies out. Parameters: weights of the saved model. Seconds: the trial's training time.</p>
<h2>Validation accuracy by epoch</h2>
{image("curves", "validation accuracy of each task against epoch, every trial")}
<p>One line per trial, coloured by gamma. A line that ends early is a trial the scheduler
stopped.</p>
<h2>Hypervolume as trials finished</h2>
{image("hypervolume", "validation hypervolume and front size against finished trials")}
<p>Area dominated by the validation front of the completed trials so far, above chance accuracy
on both tasks; a flat end means more trials stopped paying off.</p>
<h2>Hyperparameter importance</h2>
{importance_html}
<h2>All trials</h2>
<details><summary>{len(all_trials)} trials (<code>trials.csv</code>)</summary>
{_table_html(all_trials)}
</details>
</body></html>
"""
    index = directory / INDEX_FILE
    index.write_text(page, encoding="utf-8")
    return Report(index, figures, notes)
