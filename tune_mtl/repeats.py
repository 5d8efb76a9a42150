"""A front that survives seed noise: candidates trained again with more seeds, chosen on the means.

When two trials differ by less than the noise of one training run, a single-seed front can crown
a configuration that was only lucky. With ``--repeats K`` the search ends by training its
candidates K - 1 more times with other seeds (same splits, full budget), and the front and the
knee are chosen on each candidate's mean over the K runs.

The candidates are the front's members and every completed, feasible trial within ``MARGIN`` of
the front: no front member beats it by more than ``MARGIN`` on every objective, with each objective
scaled from its constant predictor (0) to the front's best (1). So a trial that missed the front
by less than a twentieth of the way from "learned nothing" to the best gets its second chance.

Each candidate's spread is the sample standard deviation over its K runs. Two members of the
mean front are tied when, on every objective, their intervals (mean +- spread) overlap: the data
cannot tell them apart. Pure numpy and pandas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tune_mtl.objectives import Objectives
from tune_mtl.pareto import knee_index, pareto_mask

__all__ = [
    "MARGIN",
    "SEED_KEY",
    "candidates",
    "repeat_seeds",
    "aggregate",
    "mean_front",
    "mean_column",
    "spread_column",
]

MARGIN = 0.05
# The configuration key that gives a trial its own training seed (weights and epoch draws).
SEED_KEY = "training_seed"
# Seeds of the extra runs are this far apart, so they never meet the search's own seeds.
SEED_STRIDE = 1000


def mean_column(column: str) -> str:
    return f"{column}_mean"


def spread_column(column: str) -> str:
    return f"{column}_std"


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The seeds of the K - 1 extra runs of a search seeded with ``seed``."""
    return [seed + SEED_STRIDE * run for run in range(1, repeats)]


def _scaled(values: np.ndarray, objectives: Objectives, best: np.ndarray) -> np.ndarray:
    low = objectives.reference_point
    span = np.where(best > low, best - low, 1.0)
    return (values - low) / span


def candidates(
    trials: pd.DataFrame, front: pd.DataFrame, objectives: Objectives, *, margin: float = MARGIN
) -> pd.DataFrame:
    """Front members and the completed, feasible trials within ``margin`` of the front."""
    pool = trials[(trials["status"] == "completed") & objectives.feasible(trials)]
    pool = pool.dropna(subset=objectives.columns())
    if pool.empty or front.empty:
        return pool.iloc[0:0]
    front_values = objectives.maximised(front)
    best = front_values.max(axis=0)
    scaled_front = _scaled(front_values, objectives, best)
    scaled_pool = _scaled(objectives.maximised(pool), objectives, best)
    # Beaten by more than the margin on every objective by some front member: not a candidate.
    beaten = (scaled_front[None, :, :] - scaled_pool[:, None, :] > margin).all(axis=2).any(axis=1)
    return pool[~beaten]


def aggregate(runs: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Per candidate (``trial_id``), the mean and spread of each column over its runs, and the
    number of runs."""
    grouped = runs.groupby("trial_id", sort=False)[list(columns)]
    means = grouped.mean().rename(columns=mean_column)
    spreads = grouped.std(ddof=1).fillna(0.0).rename(columns=spread_column)
    counts = runs.groupby("trial_id", sort=False).size().rename("runs")
    return pd.concat([means, spreads, counts], axis=1).reset_index()


def mean_front(table: pd.DataFrame, objectives: Objectives) -> pd.DataFrame:
    """The candidates no other beats on every objective's mean, with the knee on the means and a
    ``tied_with`` column: the members whose intervals overlap this one's on every objective."""
    columns = objectives.columns()
    means = table.rename(columns={mean_column(c): c for c in columns})
    values = objectives.maximised(means)
    front = table[pareto_mask(values)].reset_index(drop=True)
    if front.empty:
        return front.assign(knee=pd.Series(dtype=bool), tied_with=pd.Series(dtype=str))
    centre = front[[mean_column(c) for c in columns]].to_numpy(dtype=float)
    spread = front[[spread_column(c) for c in columns]].to_numpy(dtype=float)
    low, high = centre - spread, centre + spread
    overlap = ((low[:, None, :] <= high[None, :, :]) & (low[None, :, :] <= high[:, None, :])).all(
        axis=2
    )
    np.fill_diagonal(overlap, False)
    ids = front["trial_id"].astype(str).to_numpy()
    front["tied_with"] = [" ".join(ids[row]) for row in overlap]
    front["knee"] = False
    maximised = objectives.signs * centre
    front.loc[knee_index(maximised, objectives.reference_point), "knee"] = True
    return front
