"""The report's figures, with matplotlib's object API (no pyplot, so no GUI backend and no state).

Each function takes tables and the search's `Objectives` and returns a `Figure`; `save_png` writes
it. Colour means the loss weight of the first task (``weight_<task>`` in trials.csv), on one
fixed scale from 0 to 1, or, where the trials chose a weighting strategy, the strategy
(`colour_key`). Metrics keep their own values (accuracy, MAE), but the axis of a metric
where lower is better runs reversed, so that better is up and to the right in every front panel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from tune_mtl.objectives import Objectives
from tune_mtl.pareto import pareto_mask
from tune_mtl.repeats import spread_column
from tune_mtl.tasks import Task
from tune_mtl.weighting import STRATEGIES, WEIGHTING_PARAM
from tune_mtl.weights import weight_columns

__all__ = [
    "front_figure",
    "ranking_figure",
    "scatter_matrix_figure",
    "parallel_figure",
    "parallel_scale",
    "staircase",
    "curves_figure",
    "hypervolume_figure",
    "importance_figure",
    "save_png",
    "weight_of",
]

WEIGHT_SCALE = ScalarMappable(Normalize(0.0, 1.0), "viridis")
DOMINATED = "#9a9a9a"
STOPPED = "#cfcfcf"
REFERENCE = "#777777"
KNEE = "crimson"
DPI = 110
# Curves of this many trials or fewer get a legend line each (a weight sweep, the article's figure).
LEGEND_TRIALS = 8
# Fronts this small get each member's trial ID written beside it.
LABELLED_FRONT = 6
# Panels per row in the figures with one panel per task.
PANELS_PER_ROW = 3


def weight_of(trials: pd.DataFrame, objectives: Objectives) -> pd.Series:
    """Each trial's loss weight of the first task; a table without weights had equal weights."""
    (column,) = weight_columns(objectives.task_names[:1])
    if column in trials:
        return trials[column].astype(float)
    return pd.Series(1.0 / len(objectives.tasks), index=trials.index)


# With learned weighting strategies in the search, front members are coloured by strategy.
STRATEGY_COLOURS = dict(zip(STRATEGIES, ("tab:blue", "tab:orange", "tab:green", "tab:red",
                                         "tab:purple"), strict=True))  # fmt: skip


def by_strategy(trials: pd.DataFrame) -> bool:
    """Whether the trials chose a weighting strategy, so colour means strategy, not weight."""
    return WEIGHTING_PARAM in trials and bool(trials[WEIGHTING_PARAM].notna().any())


def member_colours(members: pd.DataFrame, objectives: Objectives) -> list[Any]:
    """Each trial's colour: its strategy's, or its first task's weight on `WEIGHT_SCALE`."""
    if by_strategy(members):
        return [STRATEGY_COLOURS.get(str(s), DOMINATED) for s in members[WEIGHTING_PARAM]]
    return list(WEIGHT_SCALE.to_rgba(weight_of(members, objectives)))


def colour_key(trials: pd.DataFrame, objectives: Objectives) -> str:
    """What a colour stands for in a figure of ``trials``, in the report's words."""
    if by_strategy(trials):
        return "weighting strategy"
    return f"loss weight of {objectives.task_names[0]}"


def _colour_guide(figure: Figure, axes: Sequence, trials: pd.DataFrame,
                  objectives: Objectives) -> None:  # fmt: skip
    """The loss weights' colour bar, or a legend of the weighting strategies drawn."""
    if not by_strategy(trials):
        _weight_colourbar(figure, axes, objectives)
        return
    strategies = dict.fromkeys(trials[WEIGHTING_PARAM].dropna().astype(str))
    handles = [
        Line2D([], [], marker="o", linestyle="", color=STRATEGY_COLOURS.get(s, DOMINATED), label=s)
        for s in strategies
    ]
    figure.legend(handles=handles, title="weighting", loc="outside right upper",
                  fontsize="small")  # fmt: skip


def save_png(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    return path


def _weight_colourbar(figure: Figure, axes: Sequence, objectives: Objectives) -> None:
    first = objectives.task_names[0]
    figure.colorbar(WEIGHT_SCALE, ax=list(axes), label=f"loss weight of {first}")


def _axis_label(task: Task) -> str:
    return f"{task.label} (lower is better)" if task.direction == "min" else task.label


def _rows(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` that have every one of ``columns``; none if a column is missing."""
    if frame is None or not set(columns) <= set(frame.columns):
        return pd.DataFrame(columns=columns)
    return frame.dropna(subset=columns)


def staircase(points: np.ndarray, *, left: float, bottom: float) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of a front's boundary in maximised values: below and left of it is dominated.

    Only the points no other of them dominates shape the boundary (the test metrics of the
    validation front need not form a front themselves). It starts at ``left`` level with the
    highest point and ends at ``bottom`` below the rightmost.
    """
    front = points[pareto_mask(points)]
    ordered = front[np.lexsort((-front[:, 1], front[:, 0]))]  # x ascending, so y descending
    xs = np.concatenate(([left], np.repeat(ordered[:, 0], 2)))
    falls_to = np.concatenate((ordered[1:, 1], [bottom]))
    ys = np.concatenate(([ordered[0, 1]], np.column_stack((ordered[:, 1], falls_to)).ravel()))
    return xs, ys


def _pair_panel(
    axes: Any,
    tasks: tuple[Task, Task],
    split: str,
    front: pd.DataFrame,
    objectives: Objectives,
    *,
    others: pd.DataFrame | None,
    stopped: pd.DataFrame | None,
    infeasible: pd.DataFrame | None = None,
    title: str,
    with_staircase: bool,
    label_members: bool,
    legend: bool = True,
) -> None:
    """One task's metric against another's; every position is computed in maximised values."""
    columns = [task.column(split) for task in tasks]
    signs = np.array([task.sign for task in tasks])
    members, others, stopped, infeasible = (
        _rows(f, columns) for f in (front, others, stopped, infeasible)
    )
    axes.set_title(title)
    axes.set_xlabel(_axis_label(tasks[0]))
    axes.set_ylabel(_axis_label(tasks[1]))
    everything = pd.concat([f[columns] for f in (members, others, stopped, infeasible)])
    if everything.empty:
        axes.text(0.5, 0.5, "no trial to show", ha="center", transform=axes.transAxes)
        return
    maximised = everything.to_numpy(dtype=float) * signs
    span = np.ptp(maximised, axis=0)
    margin = np.where(span > 0, 0.06 * span, 0.01)
    low = maximised.min(axis=0) - margin
    high = maximised.max(axis=0) + margin
    if len(stopped):
        axes.scatter(*stopped[columns].to_numpy(dtype=float).T, s=14, marker="x", color=STOPPED,
                     label="stopped early (when stopped)", zorder=1)  # fmt: skip
    if len(infeasible):
        axes.scatter(*infeasible[columns].to_numpy(dtype=float).T, s=28, facecolors="none",
                     edgecolors=DOMINATED, label="completed, outside the constraints",
                     zorder=1)  # fmt: skip
    if len(others):
        axes.scatter(*others[columns].to_numpy(dtype=float).T, s=28, color=DOMINATED,
                     label="completed, not on the front", zorder=1)  # fmt: skip
    points = members[columns].to_numpy(dtype=float)
    if len(points):
        if with_staircase:
            xs, ys = staircase(points * signs, left=low[0], bottom=low[1])
            axes.plot(xs * signs[0], ys * signs[1], color="black", linewidth=1.2, zorder=2,
                      label="front")  # fmt: skip
        spreads = [spread_column(c) for c in columns]
        if set(spreads) <= set(members.columns):  # --repeats: the means, +- the spread over seeds
            axes.errorbar(*points.T, xerr=members[spreads[0]], yerr=members[spreads[1]],
                          fmt="none", ecolor="#555", elinewidth=1, capsize=3, zorder=2,
                          label="+- spread over seeds")  # fmt: skip
        coloured_by_strategy = by_strategy(members)
        axes.scatter(*points.T, s=60, c=member_colours(members, objectives), zorder=3,
                     edgecolors="black", linewidths=0.6,
                     label="_nolegend_" if coloured_by_strategy else "front member")  # fmt: skip
        if coloured_by_strategy:  # one legend entry per strategy instead
            for strategy in dict.fromkeys(members[WEIGHTING_PARAM].astype(str)):
                axes.scatter([], [], s=60, color=STRATEGY_COLOURS.get(strategy, DOMINATED),
                             edgecolors="black", linewidths=0.6, label=strategy)  # fmt: skip
        if label_members and len(points) <= LABELLED_FRONT:
            for (x, y), trial_id in zip(points, members["trial_id"], strict=True):
                axes.annotate(str(trial_id), (x, y), xytext=(6, -10), textcoords="offset points",
                              fontsize="x-small", color="#333")  # fmt: skip
        knee = members[members["knee"].astype(bool)][columns].to_numpy(dtype=float)
        if len(knee):
            axes.scatter(*knee.T, s=260, marker="*", facecolors="none", edgecolors=KNEE,
                         linewidths=1.5, zorder=4, label="knee")  # fmt: skip
    # A minimised metric's limits come out high-to-low: matplotlib then runs that axis reversed.
    axes.set_xlim(low[0] * signs[0], high[0] * signs[0])
    axes.set_ylim(low[1] * signs[1], high[1] * signs[1])
    axes.xaxis.set_major_locator(MaxNLocator(5))
    axes.yaxis.set_major_locator(MaxNLocator(6))
    axes.grid(alpha=0.3)
    if legend:
        axes.legend(loc="best", fontsize="small")


def _split_trials(
    trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Objectives
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Completed feasible trials off the front, completed infeasible ones, and stopped ones."""
    off_front = (trials["status"] == "completed") & ~trials["trial_id"].isin(pareto["trial_id"])
    feasible = objectives.feasible(trials)
    return (
        trials[off_front & feasible],
        trials[off_front & ~feasible],
        trials[trials["status"] == "stopped"],
    )


def front_figure(trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Objectives) -> Figure:
    """Two objectives against each other: validation (every trial) beside test (front members).

    Front members are coloured by the first task's loss weight (by weighting strategy when the
    search chose one) and joined by the front's staircase; other completed trials are grey dots
    and early-stopped trials grey crosses at the metrics they had when stopped. Stopped trials
    usually sit far from the front, so a middle panel shows the completed trials up close. Only
    front members were evaluated on the test split.
    """
    tasks = objectives.objective_tasks
    if len(tasks) != 2:
        raise ValueError(f"front_figure draws 2 objectives, but got {len(tasks)}.")
    pair = (tasks[0], tasks[1])
    completed, infeasible, stopped = _split_trials(trials, pareto, objectives)
    zoom = len(_rows(stopped, objectives.columns("val"))) > 0
    figure = Figure(figsize=(17 if zoom else 12, 5.2), layout="constrained")
    panels = list(figure.subplots(1, 3 if zoom else 2))
    _pair_panel(panels[0], pair, "val", pareto, objectives, others=completed, stopped=stopped,
                infeasible=infeasible, title="Validation, every trial", with_staircase=True,
                label_members=not zoom)  # fmt: skip
    if zoom:
        _pair_panel(panels[1], pair, "val", pareto, objectives, others=completed, stopped=None,
                    infeasible=infeasible, title="Validation, completed trials",
                    with_staircase=True, label_members=True)  # fmt: skip
    _pair_panel(panels[-1], pair, "test", pareto, objectives, others=None, stopped=None,
                title="Test, front members", with_staircase=True,
                label_members=True)  # fmt: skip
    if not by_strategy(pareto):
        _weight_colourbar(figure, panels, objectives)
    return figure


def ranking_figure(trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Objectives) -> Figure:
    """A single objective: every completed trial's validation metric, best first; the front
    (the best trial, or several tied) coloured, with its test metric as an open diamond."""
    (task,) = objectives.objective_tasks
    column = task.column("val")
    completed = _rows(trials[trials["status"] == "completed"], [column])
    completed = completed.assign(_feasible=objectives.feasible(completed))
    order = np.argsort(-completed[column].to_numpy(dtype=float) * task.sign, kind="stable")
    ranked = completed.iloc[order].reset_index(drop=True)
    figure = Figure(figsize=(9, 4.6), layout="constrained")
    axes = figure.subplots()
    on_front = ranked["trial_id"].isin(set(pareto["trial_id"])).to_numpy()
    feasible = ranked["_feasible"].to_numpy(dtype=bool)
    ranks = np.arange(1, len(ranked) + 1)
    others = ~on_front & feasible
    axes.scatter(ranks[others], ranked.loc[others, column], s=28, color=DOMINATED,
                 label="completed, not on the front")  # fmt: skip
    if (~feasible).any():
        axes.scatter(ranks[~feasible], ranked.loc[~feasible, column], s=28, facecolors="none",
                     edgecolors=DOMINATED, label="completed, outside the constraints")  # fmt: skip
    members = ranked[on_front]
    axes.scatter(ranks[on_front], members[column], s=60, edgecolors="black", linewidths=0.6,
                 c=WEIGHT_SCALE.to_rgba(weight_of(members, objectives)), zorder=3,
                 label="front")  # fmt: skip
    test_column = task.column("test")
    if test_column in pareto:
        tested = ranked[on_front].merge(pareto[["trial_id", test_column]], on="trial_id")
        axes.scatter(ranks[on_front], tested[test_column], s=50, marker="D", facecolors="none",
                     edgecolors=KNEE, zorder=4, label="front, test")  # fmt: skip
    axes.axhline(objectives.reference(task.name), color=REFERENCE, linestyle="--", linewidth=1,
                 label="constant predictor")  # fmt: skip
    if task.direction == "min":
        axes.invert_yaxis()
    axes.set_xlabel("completed trials, best first")
    axes.set_ylabel(f"validation {_axis_label(task)}")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"{task.label}: every completed trial")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    _weight_colourbar(figure, [axes], objectives)
    return figure


def scatter_matrix_figure(
    trials: pd.DataFrame, pareto: pd.DataFrame, objectives: Objectives
) -> Figure:
    """Every pair of objectives on validation, one panel each (the lower triangle of a matrix).

    Front members are coloured as `colour_key` says, other completed trials grey, the
    knee starred. A member may look dominated in one panel: it is on the front because of the
    objectives that panel does not show.
    """
    tasks = objectives.objective_tasks
    if len(tasks) < 3:
        raise ValueError(f"a scatter matrix is for 3 or more objectives, but got {len(tasks)}.")
    completed, infeasible, _ = _split_trials(trials, pareto, objectives)
    size = len(tasks) - 1
    figure = Figure(figsize=(3.8 * size + 1.6, 3.5 * size + 0.4), layout="constrained")
    grid = figure.subplots(size, size, squeeze=False)
    for row in range(size):
        for col in range(size):
            axes = grid[row][col]
            if col > row:
                axes.set_axis_off()
                continue
            pair = (tasks[col], tasks[row + 1])
            _pair_panel(axes, pair, "val", pareto, objectives, others=completed, stopped=None,
                        infeasible=infeasible, title="", with_staircase=False, label_members=False,
                        legend=False)  # fmt: skip
    handles, labels = grid[-1][0].get_legend_handles_labels()
    if handles:
        grid[0][-1].legend(handles, labels, loc="center", title="validation")
    if not by_strategy(pareto):  # else the strategies are in the legend
        _weight_colourbar(figure, [axes for line in grid for axes in line], objectives)
    return figure


def parallel_scale(points: np.ndarray, reference: np.ndarray | Sequence[float]) -> np.ndarray:
    """Each maximised objective scaled from ``reference`` (0) to the best of ``points`` (1).

    The knee's scale (`tune_mtl.pareto.knee_index`): the constant predictor is 0 and the
    front's best is 1, whether the metric is an accuracy or a negated MAE. An objective no point
    beats the reference on keeps its distance from the reference unscaled.
    """
    array = np.asarray(points, dtype=float)
    low = np.asarray(reference, dtype=float)
    if len(array) == 0:
        return array.reshape(0, len(low))
    high = array.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return (array - low) / span


def parallel_figure(pareto: pd.DataFrame, objectives: Objectives) -> Figure:
    """The front's members across every objective: one vertical axis per objective task.

    Each axis runs from the constant predictor's validation value (0) to the front's best (1)
    (`parallel_scale`), labelled with both in the metric's own units; one line per member,
    coloured as `colour_key` says, the knee in bold.
    """
    tasks = objectives.objective_tasks
    members = _rows(pareto, objectives.columns("val")).reset_index(drop=True)
    positions = np.arange(len(tasks))
    figure = Figure(figsize=(max(7.0, 2.4 * len(tasks) + 2.0), 5.0), layout="constrained")
    axes = figure.subplots()
    axes.axhline(0, color=REFERENCE, linestyle="--", linewidth=1, label="constant predictor (0)")
    axes.axhline(1, color=REFERENCE, linestyle=":", linewidth=1, label="front's best (1)")
    for position in positions:
        axes.axvline(float(position), color="#444", linewidth=1, zorder=1)
    lowest = 0.0
    if members.empty:
        axes.text(0.5, 0.5, "no completed trial, so no front", ha="center",
                  transform=axes.transAxes)  # fmt: skip
    else:
        maximised = objectives.maximised(members)
        scaled = parallel_scale(maximised, objectives.reference_point)
        lowest = float(scaled.min())
        colours = member_colours(members, objectives)
        knees = members["knee"].astype(bool).to_numpy()
        others = [colour for colour, knee in zip(colours, knees, strict=True) if not knee]
        for line, colour in zip(scaled[~knees], others, strict=True):
            axes.plot(positions, line, color=colour, linewidth=1.4, alpha=0.85, marker="o",
                      markersize=4, zorder=2)  # fmt: skip
        for line, trial_id in zip(scaled[knees], members.loc[knees, "trial_id"], strict=True):
            axes.plot(positions, line, color=KNEE, linewidth=3, marker="*", markersize=13,
                      zorder=3, label=f"knee ({trial_id})")  # fmt: skip
        best = maximised.max(axis=0) * objectives.signs
        for position, task, value in zip(positions, tasks, best, strict=True):
            axes.annotate(f"best {value:.4g}", (position, 1), xytext=(4, 4),
                          textcoords="offset points", fontsize="small")  # fmt: skip
            axes.annotate(f"constant {objectives.reference(task.name):.4g}", (position, 0),
                          xytext=(4, -12), textcoords="offset points", fontsize="small",
                          color=REFERENCE)  # fmt: skip
    axes.set_xticks(positions, [_axis_label(task) for task in tasks])
    axes.set_xlim(-0.3, len(tasks) - 0.7)
    axes.set_ylim(min(lowest, 0.0) - 0.1, 1.12)
    axes.set_ylabel("from the constant predictor (0) to the front's best (1)")
    axes.set_title(f"Front members across the objectives (validation, {len(members)} trials)")
    axes.grid(axis="y", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3, fontsize="small")
    _colour_guide(figure, [axes], members, objectives)
    return figure


def _panels(figure: Figure, count: int, **kwargs: Any) -> list[Any]:
    """``count`` panels, at most `PANELS_PER_ROW` a row; spare ones in the last row hidden."""
    columns = min(count, PANELS_PER_ROW)
    rows = math.ceil(count / columns)
    panels = list(figure.subplots(rows, columns, squeeze=False, **kwargs).ravel())
    for spare in panels[count:]:
        spare.set_axis_off()
    return panels[:count]


def _panel_size(count: int, *, width: float, height: float) -> tuple[float, float]:
    columns = min(count, PANELS_PER_ROW)
    return width * columns + 1.2, height * math.ceil(count / columns)


def curves_figure(
    histories: Mapping[str, pd.DataFrame], trials: pd.DataFrame, objectives: Objectives
) -> Figure:
    """Each task's validation metric against epoch, one line per trial coloured as `colour_key`
    says.

    A trial stopped early ends where it stopped; the dashed line is the constant predictor.
    """
    tasks = objectives.tasks
    figure = Figure(figsize=_panel_size(len(tasks), width=5.4, height=4.4), layout="constrained")
    panels = _panels(figure, len(tasks), sharex=True)
    colours = dict(zip(trials["trial_id"], member_colours(trials, objectives), strict=True))
    keys = (
        trials[WEIGHTING_PARAM].astype(str)
        if by_strategy(trials)
        else weight_of(trials, objectives).map(
            lambda weight: f"{objectives.task_names[0]} weight {weight:.3g}"
        )
    )
    labels = dict(zip(trials["trial_id"], keys, strict=True))
    with_legend = len(histories) <= LEGEND_TRIALS
    for axes, task in zip(panels, tasks, strict=True):
        column = task.column("val")
        lines = 0
        for trial_id, history in histories.items():
            if history.empty or column not in history:
                continue
            axes.plot(history["training_iteration"], history[column],
                      color=colours.get(trial_id, DOMINATED),
                      marker="o" if len(history) < 20 else None, markersize=3,
                      linewidth=1.4, alpha=0.85,
                      label=f"{labels.get(trial_id, '')} ({trial_id})")  # fmt: skip
            lines += 1
        if not lines:
            axes.text(0.5, 0.7, "no epoch results (result.json) found", ha="center",
                      transform=axes.transAxes)  # fmt: skip
        axes.axhline(objectives.reference(task.name), color=REFERENCE, linestyle="--",
                     linewidth=1, label="constant predictor")  # fmt: skip
        axes.set_xlabel("epoch")
        axes.set_ylabel(f"validation {_axis_label(task)}")
        axes.set_title(f"{task.label} by epoch")
        axes.grid(alpha=0.3)
        if with_legend and lines:
            axes.legend(fontsize="small")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    _colour_guide(figure, panels, trials, objectives)
    return figure


def hypervolume_figure(trajectory: pd.DataFrame) -> Figure:
    """Validation hypervolume and front size after each finished trial, to see the search converge.

    ``trajectory`` has columns ``finished``, ``hypervolume`` and ``front_size``.
    """
    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.subplots()
    axes.step(trajectory["finished"], trajectory["hypervolume"], where="post",
              color="tab:blue", linewidth=1.8, label="validation hypervolume")  # fmt: skip
    axes.set_xlabel("finished trials")
    axes.set_ylabel("validation hypervolume", color="tab:blue")
    axes.grid(alpha=0.3)
    sizes = axes.twinx()
    sizes.step(trajectory["finished"], trajectory["front_size"], where="post", color="tab:orange",
               linestyle="--", linewidth=1.2, label="front size")  # fmt: skip
    sizes.set_ylabel("front size (trials)", color="tab:orange")
    sizes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Search progress")
    return figure


def importance_figure(
    per_objective: Sequence[Mapping[str, float] | None], *, tasks: Sequence[Task]
) -> Figure:
    """One horizontal bar chart of hyperparameter importance per objective, most important first."""
    if len(per_objective) != len(tasks):
        raise ValueError(
            f"importance_figure needs one entry per task, but got {len(per_objective)} for "
            f"{len(tasks)} tasks."
        )
    figure = Figure(figsize=_panel_size(len(tasks), width=4.6, height=3.6), layout="constrained")
    for axes, importances, task in zip(
        _panels(figure, len(tasks)), per_objective, tasks, strict=True
    ):
        axes.set_title(f"{task.label}: importance")
        if not importances:
            axes.text(0.5, 0.5, f"the same {task.metric} in every completed trial",
                      ha="center", va="center", transform=axes.transAxes)  # fmt: skip
            axes.set_axis_off()
            continue
        names = list(importances)[::-1]
        axes.barh(names, [importances[name] for name in names], color="tab:green")
        axes.set_xlim(0, 1)
        axes.set_xlabel("importance (share, sums to 1)")
        axes.grid(axis="x", alpha=0.3)
    return figure
