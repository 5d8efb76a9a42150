"""`tune-mtl report`: one HTML page and its PNGs for a finished search, readable without a network.

The page (``report/index.html`` in the search's folder) shows the front, every trial's validation
curves, the hypervolume as trials finished, hyperparameter importance per objective and a table of
the front's members. Two objectives get the front as a plane; three or more a scatter matrix of
every pair and parallel coordinates of the front's members. Images are PNG files beside the page,
or embedded in it with ``embed_images``.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tune_mtl import plots
from tune_mtl.errors import TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.pareto import hypervolume, pareto_mask
from tune_mtl.repeats import spread_column
from tune_mtl.results import SearchResult, check_writable, load_results, loss_hypervolume_note
from tune_mtl.tasks import Task
from tune_mtl.text import counted
from tune_mtl.trial_files import count_parameters, epoch_histories, latest_checkpoint
from tune_mtl.weights import SIMPLEX_PREFIX

__all__ = ["Report", "report", "hypervolume_trajectory", "front_members"]

REPORT_DIR = "report"
INDEX_FILE = "index.html"
# Every figure a report may draw, by the name the page refers to it with.
FIGURE_FILES = {
    "front": "front.png",
    "scatter_matrix": "scatter_matrix.png",
    "parallel": "parallel_coordinates.png",
    "curves": "curves.png",
    "hypervolume": "hypervolume.png",
    "importance": "importance.png",
}
# Marks a page as tune-mtl's, so that a report may replace an earlier one at the same --out.
GENERATOR = '<meta name="generator" content="tune-mtl">'


@dataclass(frozen=True)
class Report:
    """A written report: the page, the PNG of each figure, and why any figure is missing."""

    index: Path
    figures: dict[str, Path]
    notes: dict[str, str] = field(default_factory=dict)


def hypervolume_trajectory(
    trials: pd.DataFrame, histories: Mapping[str, pd.DataFrame], objectives: Objectives
) -> pd.DataFrame:
    """Validation hypervolume and front size of the completed trials after each finished trial.

    Trials are taken in the order of their last report (``timestamp`` in ``result.json``); one
    that never reported counts last. Only completed, feasible trials enter the front, as in the
    search; the reference point is the constant predictors' (`Objectives.reference_point`).
    """
    finished_at = [
        history["timestamp"].iloc[-1] if "timestamp" in history and len(history) else np.inf
        for history in (histories.get(t, pd.DataFrame()) for t in trials["trial_id"])
    ]
    ordered = trials.assign(_finished_at=finished_at).sort_values("_finished_at", kind="stable")
    values = objectives.maximised(ordered)
    eligible = (
        (ordered["status"] == "completed").to_numpy()
        & objectives.feasible(ordered)
        & ~np.isnan(values).any(axis=1)
    )
    rows = []
    for count, trial_id in enumerate(ordered["trial_id"], start=1):
        points = values[:count][eligible[:count]]
        empty = len(points) == 0
        rows.append(
            {
                "finished": count,
                "trial_id": trial_id,
                "hypervolume": 0.0 if empty else hypervolume(points, objectives.reference_point),
                "front_size": 0 if empty else int(pareto_mask(points).sum()),
            }
        )
    return pd.DataFrame(rows, columns=["finished", "trial_id", "hypervolume", "front_size"])


def _parameter_count(experiment: Path, trial_id: str) -> float:
    try:
        return float(count_parameters(latest_checkpoint(experiment, trial_id).path))
    except TuneMtlError:
        return np.nan


def _metrics_note(repeats: int) -> str:
    """What the front members' metrics are: one run's last epoch, or means over ``repeats``."""
    if repeats == 1:
        return (
            "Metrics are those of each trial's last epoch, whose checkpoint <code>tune-mtl "
            "export</code> copies out."
        )
    return (
        f"Metrics are means ± standard deviations over {repeats} runs of each configuration "
        "with different seeds, on which the front and the knee are chosen; <code>tune-mtl "
        "export</code> copies out the search's own run. Tied with: the members whose intervals "
        "overlap this one's on every objective."
    )


def front_members(result: SearchResult) -> pd.DataFrame:
    """The front's table: knee, trial, configuration, each task's metrics, epochs, parameters,
    seconds. A trial without its checkpoint (a folder copied without them) has no parameter count.
    With ``--repeats`` a metric reads "mean ± sd" over the runs, and ``tied with`` names the
    members the seeds cannot tell apart.
    """
    pareto = result.pareto
    params = [p for p in result.summary.params if p in pareto.columns]
    table = pd.DataFrame({"knee": np.where(pareto["knee"].astype(bool), "*", "")})
    table["trial"] = pareto["trial_id"]
    for param in params:
        table[param] = pareto[param]
    for split in ("val", "test"):
        for task in result.objectives.tasks:
            column = task.column(split)
            values = pareto[column] if column in pareto else np.nan
            if spread_column(column) in pareto:
                values = pareto[column].combine(pareto[spread_column(column)], _with_spread)
            table[f"{split} {task.label}"] = values
    if "tied_with" in pareto:
        table["tied with"] = pareto["tied_with"]
    table["epochs"] = pareto["epochs"]
    table["parameters"] = [
        _parameter_count(result.path, trial_id) for trial_id in result.pareto["trial_id"]
    ]
    table["seconds"] = result.pareto["seconds"]
    return table


def _with_spread(mean: float, sd: float) -> str:
    return "" if pd.isna(mean) else f"{mean:.4f} ± {sd:.4f}"


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
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


def _task_html(task: Task, reference: float, objectives: Objectives) -> str:
    if task.kind == "classification":
        kind = f"classification, {len(task.classes)} classes"
    elif task.kind == "binary":
        kind = "binary"
    else:
        kind = f"regression, {task.loss} loss"
    constraint = next((c for c in objectives.constraints if c.task == task.name), None)
    role = f"constraint: {constraint.describe()}" if constraint else "objective"
    if task.direction == "min":
        role += ", lower is better"
    metric = "accuracy" if task.is_classifier else "MAE"
    return f"{task.name} ({kind}; {role}; reference {metric} {reference:.4g})"


def _overview_html(result: SearchResult, experiment_arg: str) -> str:
    summary = result.summary
    objectives = result.objectives
    options = summary.options
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.status_counts.items()))
    tasks = "; ".join(
        _task_html(task, reference, objectives)
        for task, reference in zip(objectives.tasks, objectives.references, strict=True)
    )
    # A loader or builder passed from Python as an object has no import string to show.
    from_python = "passed from Python"
    items = {
        "Data set": summary.data or from_python,
        "Tasks": tasks,
        "Objectives": ", ".join(task.label for task in objectives.objective_tasks),
        "Constraints": ", ".join(c.describe() for c in objectives.constraints) or "none",
        "Model": summary.model or from_python,
        "Trials": f"{len(result.trials)} ({counts})",
        "Budget": f"up to {options.get('max_epochs', '?')} epochs a trial, "
        f"batch {options.get('batch_size', '?')}",
        "Sampler, scheduler": f"{options.get('sampler', '?')}, {options.get('scheduler', '?')}",
        "Search time": f"{summary.wall_seconds / 60:.1f} min",
        "Front": f"{counted(summary.front_size, 'trial')}"
        + (f"; knee {summary.knee_trial_id}" if summary.knee_trial_id is not None else ""),
        "Hypervolume": f"validation {summary.hypervolume_val:.4f}, test "
        f"{summary.hypervolume_test:.4f}, above the reference of every objective"
        f"{loss_hypervolume_note(summary)}",
        "Versions": ", ".join(f"{k} {v}" for k, v in summary.versions.items()),
    }
    rows = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items.items()
    )
    command = f"tune-mtl export {experiment_arg} --knee --out model.keras"
    take_away = (
        f" Take the knee model away with <code>{html.escape(command)}</code>."
        if summary.knee_trial_id is not None
        else ""
    )
    return (
        f"<dl>{rows}</dl><p>A task's reference is what a constant predictor scores on "
        "validation: the accuracy of always answering the most frequent training class, or the "
        f"mean absolute error of always answering the training median.{take_away}</p>"
    )


def _front_figures(result: SearchResult, directory: Path) -> dict[str, Path]:
    """The front's figures: a ranking for one objective, the plane for two, else a scatter
    matrix of every pair and parallel coordinates of the members."""
    objectives = result.objectives
    trials, pareto = result.trials, result.pareto
    count = len(objectives.objectives)
    if count == 1:
        figure = plots.ranking_figure(trials, pareto, objectives)
        return {"front": plots.save_png(figure, directory / FIGURE_FILES["front"])}
    if count == 2:
        figure = plots.front_figure(trials, pareto, objectives)
        return {"front": plots.save_png(figure, directory / FIGURE_FILES["front"])}
    return {
        "scatter_matrix": plots.save_png(
            plots.scatter_matrix_figure(trials, pareto, objectives),
            directory / FIGURE_FILES["scatter_matrix"],
        ),
        "parallel": plots.save_png(
            plots.parallel_figure(pareto, objectives), directory / FIGURE_FILES["parallel"]
        ),
    }


def _front_html(objectives: Objectives, pareto: pd.DataFrame, image: Any) -> str:
    tasks = objectives.objective_tasks
    colour = html.escape(plots.colour_key(pareto, objectives))
    knee = (
        "the star is the knee, the member nearest the ideal point once each objective is scaled "
        "from its constant predictor (0) to the front's best (1)"
    )
    reversed_axes = (
        " Axes of metrics where lower is better run reversed, so better is up and right."
        if any(task.direction == "min" for task in tasks)
        else ""
    )
    feasible = " and within the constraints" if objectives.constraints else ""
    if len(tasks) == 1:
        return image("front", f"every completed trial's validation {tasks[0].label}") + (
            f"<p>Completed trials ranked by validation {html.escape(tasks[0].label)}; the front "
            f"is the best trial{feasible}. Its test value is the open diamond; the dashed line "
            "is the constant predictor.</p>"
        )
    if len(tasks) == 2:
        return image("front", "the Pareto front of both objectives, validation and test") + (
            f"<p>Each point is a trial: {html.escape(tasks[0].label)} against "
            f"{html.escape(tasks[1].label)}. Front members (completed trials{feasible} that no "
            f"other such trial beats on both validation objectives) are coloured by {colour} "
            f"and joined by the front's staircase; {knee}. Only front members were evaluated on "
            f"the test split.{reversed_axes}</p>"
        )
    return (
        image("scatter_matrix", "every pair of objectives on validation")
        + f"<p>Every pair of the {len(tasks)} objectives on validation. Front members (completed "
        f"trials{feasible} that no other such trial beats on every objective) are coloured by "
        f"{colour}, other completed trials grey; {knee}. A member can look beaten in one panel: "
        f"it is on the front for the objectives that panel does not show.{reversed_axes}</p>"
        + image("parallel", "the front's members across every objective")
        + "<p>Parallel coordinates of the front: one vertical axis per objective, from the "
        "constant predictor's validation value (0, written below) to the front's best (1, "
        f"written above); one line per member, coloured by {colour}, the knee in bold. Lines "
        "that cross are the trade-offs between tasks.</p>"
    )


def _with_code(text: str) -> str:
    """``text`` escaped for HTML, its `backquoted` parts as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _check_out(directory: Path) -> None:
    """A folder given as ``--out`` is new, empty or an earlier report: the report never replaces
    files of the user's (the search's own ``report/`` folder is the report's alone)."""
    if directory.exists() and not directory.is_dir():
        raise TuneMtlError(
            f"--out {directory} is a file; pass a folder (a new one is created) for the report."
        )
    if not directory.is_dir() or not any(directory.iterdir()):
        return
    index = directory / INDEX_FILE
    if not (index.is_file() and GENERATOR in index.read_text(errors="replace")):
        raise TuneMtlError(
            f"--out {directory} holds files and no tune-mtl report, which the report's "
            f"{INDEX_FILE} and PNGs could replace; pass a new or empty folder."
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
    from tune_mtl.importance import search_importances

    result = load_results(experiment)
    directory = Path(out) if out is not None else result.path / REPORT_DIR
    if out is not None:
        _check_out(directory)
    check_writable(directory)
    for name in FIGURE_FILES.values():  # an earlier report's figures that this one may not draw
        (directory / name).unlink(missing_ok=True)
    summary = result.summary
    objectives = result.objectives
    histories = epoch_histories(result.path, result.trials["trial_id"])

    figures = _front_figures(result, directory)
    notes: dict[str, str] = {}
    figures["curves"] = plots.save_png(
        plots.curves_figure(histories, result.trials, objectives),
        directory / FIGURE_FILES["curves"],
    )
    trajectory = hypervolume_trajectory(result.trials, histories, objectives)
    figures["hypervolume"] = plots.save_png(
        plots.hypervolume_figure(trajectory), directory / FIGURE_FILES["hypervolume"]
    )
    importances = search_importances(result.path, summary.name)
    if importances.per_objective is None:
        notes["importance"] = importances.message or "No importance could be computed."
    else:
        figures["importance"] = plots.save_png(
            plots.importance_figure(importances.per_objective, tasks=objectives.objective_tasks),
            directory / FIGURE_FILES["importance"],
        )

    def image(name: str, alt: str) -> str:
        return _image_html(figures[name], alt, embed=embed_images)

    if "importance" in figures:
        simplex = (
            f" Parameters <code>{SIMPLEX_PREFIX}&lt;task&gt;</code> are the draws the loss "
            "weights are made of."
            if any(name.startswith(SIMPLEX_PREFIX) for name in importances.varied_params)
            else ""
        )
        importance_html = image("importance", "hyperparameter importance per objective") + (
            f"<p>Optuna's PED-ANOVA over the {importances.completed_trials} completed trials: "
            f"how much each hyperparameter sets the best {importances.top_trials} trials of an "
            f"objective apart from the others. Trials stopped early do not count.{simplex}</p>"
        )
    else:
        importance_html = f'<p class="note">{_with_code(notes["importance"])}</p>'
    front = front_members(result)
    name = html.escape(summary.name or result.path.name)
    volume = "area" if len(objectives.objectives) == 2 else "volume"
    feasible = " feasible" if objectives.constraints else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{GENERATOR}
<title>tune-mtl report: {name}</title><style>{STYLE}</style></head>
<body>
<h1>Search {name}</h1>
{_overview_html(result, str(experiment))}
<h2>Pareto front</h2>
{_front_html(objectives, result.pareto, image)}
<h2>Front members</h2>
{_table_html(front, highlight=front["knee"] == "*")}
<p>{_metrics_note(summary.repeats)} Parameters: weights of the saved model (empty when the
trial's checkpoint is not in the folder). Seconds: the trial's training time.</p>
<h2>Validation metrics by epoch</h2>
{image("curves", "validation metric of each task against epoch, every trial")}
<p>One panel per task, one line per trial, coloured by
{html.escape(plots.colour_key(result.trials, objectives))}; the dashed line is the constant
predictor. A line that ends early is a trial the scheduler stopped.</p>
<h2>Hypervolume as trials finished</h2>
{image("hypervolume", "validation hypervolume and front size against finished trials")}
<p>The {volume} dominated by the validation front of the completed{feasible} trials so far,
above the constant predictor of every objective (metrics where lower is better enter negated);
a flat end means more trials stopped paying off.</p>
<h2>Hyperparameter importance</h2>
{importance_html}
<h2>All trials</h2>
<details><summary>{len(result.trials)} trials (<code>trials.csv</code>)</summary>
{_table_html(result.trials)}
</details>
</body></html>
"""
    index = directory / INDEX_FILE
    index.write_text(page, encoding="utf-8")
    return Report(index, figures, notes)
