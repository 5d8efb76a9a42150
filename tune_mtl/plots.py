"""The report's figures, with matplotlib's object API (no pyplot, so no GUI backend and no state).

Each function takes tables and returns a `Figure`; `save_png` writes it. Colour always means
``gamma``, the weight of task 1's loss, on one fixed scale from 0 to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tune_mtl.model_config import ModelConfig
from tune_mtl.results import TEST_OBJECTIVES, VAL_OBJECTIVES

__all__ = [
    "front_figure",
    "curves_figure",
    "hypervolume_figure",
    "importance_figure",
    "save_png",
    "gamma_of",
]

GAMMA_SCALE = ScalarMappable(Normalize(0.0, 1.0), "viridis")
DOMINATED = "#9a9a9a"
STOPPED = "#cfcfcf"
DPI = 110
# Curves of this many trials or fewer get a legend line each (a gamma sweep, the article's figure).
LEGEND_TRIALS = 8
# Fronts this small get each member's trial ID written beside it.
LABELLED_FRONT = 6


def gamma_of(trials: pd.DataFrame) -> pd.Series:
    """Each trial's gamma; a search that never set it trained with the model's default."""
    if "gamma" in trials:
        return trials["gamma"].astype(float)
    return pd.Series(ModelConfig().gamma, index=trials.index)


def save_png(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    return path


def _gamma_colourbar(figure: Figure, axes: Sequence, *, task1: str) -> None:
    figure.colorbar(GAMMA_SCALE, ax=list(axes), label=f"gamma (weight of the {task1} loss)")


def _staircase(axes, points: np.ndarray, *, left: float, bottom: float) -> None:
    """The front's boundary: everything below and left of it is dominated."""
    ordered = points[np.argsort(points[:, 0])]
    xs = np.concatenate(([left], ordered[:, 0], [ordered[-1, 0]]))
    ys = np.concatenate(([ordered[0, 1]], ordered[:, 1], [bottom]))
    # For x in (x[i-1], x[i]] the best accuracy of task 2 still reachable is y[i]: step "pre".
    axes.step(xs, ys, where="pre", color="black", linewidth=1.2, zorder=2, label="front")


def _front_panel(
    axes,
    front: pd.DataFrame,
    columns: list[str],
    *,
    others: pd.DataFrame | None,
    stopped: pd.DataFrame | None,
    title: str,
    task_names: tuple[str, str],
    label_members: bool,
) -> None:
    shown = [frame[columns] for frame in (front, others, stopped) if frame is not None]
    everything = pd.concat(shown).dropna().to_numpy(dtype=float)
    axes.set_title(title)
    if len(everything) == 0:
        axes.text(0.5, 0.5, "no trial has these accuracies", ha="center", transform=axes.transAxes)
        return
    span = np.ptp(everything, axis=0)
    margin = np.where(span > 0, 0.06 * span, 0.01)
    low = everything.min(axis=0) - margin
    high = everything.max(axis=0) + margin
    if stopped is not None and len(stopped):
        axes.scatter(*stopped[columns].to_numpy().T, s=14, marker="x", color=STOPPED,
                     label="stopped early (when stopped)", zorder=1)  # fmt: skip
    if others is not None and len(others):
        axes.scatter(*others[columns].to_numpy().T, s=28, color=DOMINATED,
                     label="completed, dominated", zorder=1)  # fmt: skip
    members = front.dropna(subset=columns)
    points = members[columns].to_numpy(dtype=float)
    if len(points):
        _staircase(axes, points, left=low[0], bottom=low[1])
        axes.scatter(*points.T, s=60, c=GAMMA_SCALE.to_rgba(gamma_of(members)), zorder=3,
                     edgecolors="black", linewidths=0.6, label="front member")  # fmt: skip
        if label_members and len(points) <= LABELLED_FRONT:
            for (x, y), trial_id in zip(points, members["trial_id"], strict=True):
                axes.annotate(str(trial_id), (x, y), xytext=(6, -10), textcoords="offset points",
                              fontsize="x-small", color="#333")  # fmt: skip
        knee = members[members["knee"]][columns].to_numpy(dtype=float)
        if len(knee):
            axes.scatter(*knee.T, s=260, marker="*", facecolors="none", edgecolors="crimson",
                         linewidths=1.5, zorder=4, label="knee")  # fmt: skip
    axes.set_xlim(low[0], high[0])
    axes.set_ylim(low[1], high[1])
    axes.xaxis.set_major_locator(MaxNLocator(5))
    axes.yaxis.set_major_locator(MaxNLocator(6))
    axes.set_xlabel(f"{task_names[0]} accuracy")
    axes.set_ylabel(f"{task_names[1]} accuracy")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")


def front_figure(
    trials: pd.DataFrame, pareto: pd.DataFrame, *, task_names: tuple[str, str]
) -> Figure:
    """Task 1 against task 2 accuracy: validation (every trial) beside test (front members).

    Front members are coloured by gamma and joined by the front's staircase; dominated completed
    trials are grey dots and early-stopped trials grey crosses at the accuracy they had when
    stopped. Stopped trials usually sit far below the front, so a middle panel shows the completed
    trials up close. Only front members were evaluated on the test split.
    """
    front_ids = set(pareto["trial_id"])
    completed = trials[(trials["status"] == "completed") & ~trials["trial_id"].isin(front_ids)]
    stopped = trials[trials["status"] == "stopped"]
    zoom = len(stopped.dropna(subset=VAL_OBJECTIVES)) > 0
    figure = Figure(figsize=(17 if zoom else 12, 5.2), layout="constrained")
    panels = list(figure.subplots(1, 3 if zoom else 2))
    _front_panel(panels[0], pareto, VAL_OBJECTIVES, others=completed, stopped=stopped,
                 title="Validation accuracy, every trial", task_names=task_names,
                 label_members=not zoom)  # fmt: skip
    if zoom:
        _front_panel(panels[1], pareto, VAL_OBJECTIVES, others=completed, stopped=None,
                     title="Validation accuracy, completed trials", task_names=task_names,
                     label_members=True)  # fmt: skip
    _front_panel(panels[-1], pareto, TEST_OBJECTIVES, others=None, stopped=None,
                 title="Test accuracy, front members", task_names=task_names,
                 label_members=True)  # fmt: skip
    _gamma_colourbar(figure, panels, task1=task_names[0])
    return figure


def curves_figure(
    histories: Mapping[str, pd.DataFrame],
    trials: pd.DataFrame,
    *,
    task_names: tuple[str, str],
) -> Figure:
    """Validation accuracy of each task against epoch, one line per trial coloured by gamma.

    For a gamma sweep this is the article's figure; a trial stopped early ends where it stopped.
    """
    figure = Figure(figsize=(12, 4.8), layout="constrained")
    panels = figure.subplots(1, 2, sharex=True)
    gammas = gamma_of(trials).set_axis(trials["trial_id"])
    with_legend = len(histories) <= LEGEND_TRIALS
    for axes, column, task in zip(panels, VAL_OBJECTIVES, task_names, strict=True):
        for trial_id, history in histories.items():
            if history.empty or column not in history:
                continue
            colour = GAMMA_SCALE.to_rgba(gammas.get(trial_id, ModelConfig().gamma))
            label = f"gamma {gammas.get(trial_id, np.nan):.3g} ({trial_id})"
            axes.plot(history["training_iteration"], history[column], color=colour,
                      marker="o" if len(history) < 20 else None, markersize=3,
                      linewidth=1.4, alpha=0.85, label=label)  # fmt: skip
        axes.set_xlabel("epoch")
        axes.set_ylabel(f"validation {task} accuracy")
        axes.set_title(f"{task}: validation accuracy by epoch")
        axes.grid(alpha=0.3)
        if with_legend and axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
    panels[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    _gamma_colourbar(figure, panels, task1=task_names[0])
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
    per_task: Sequence[Mapping[str, float] | None], *, task_names: tuple[str, str]
) -> Figure:
    """One horizontal bar chart of hyperparameter importance per task, most important on top."""
    figure = Figure(figsize=(12, 3.6), layout="constrained")
    for axes, importances, task in zip(figure.subplots(1, 2), per_task, task_names, strict=True):
        axes.set_title(f"{task}: importance for validation accuracy")
        if not importances:
            axes.text(0.5, 0.5, "the same accuracy in every completed trial",
                      ha="center", va="center", transform=axes.transAxes)  # fmt: skip
            axes.set_axis_off()
            continue
        names = list(importances)[::-1]
        axes.barh(names, [importances[name] for name in names], color="tab:green")
        axes.set_xlim(0, 1)
        axes.set_xlabel("importance (share, sums to 1)")
        axes.grid(axis="x", alpha=0.3)
    return figure
