"""The rung decision of MO-ASHA: Pareto ranks, a crowding-distance tie-break, top 1/eta or stop.

Pure numpy over an ``(n_results, n_objectives)`` array whose objectives are all maximised (flip
the sign of a minimised one first). Neither Ray, Optuna nor Keras is imported here.

Inside a front, results are ordered by NSGA-II's crowding distance rather than by an epsilon-net:

- The two ends of a front get an infinite distance, so a trial that is the best seen on one task
  survives its rung. Those ends are what ranking on a scalar (mean accuracy, the gamma-weighted
  loss) throws away, and what a multi-task search is for.
- A result's distance depends only on its two neighbours in the front. A new result at a rung
  changes the distance of two others at most, so asynchronous decisions stay stable as a rung fills.
  A greedy epsilon-net depends on where it starts and on the whole front.
- It is an O(n log n) sort per objective with no loop in Python, and each objective is scaled by
  its range over the front, so two tasks with different chance accuracies weigh the same.

Ties are explicit: duplicated points get the same rank and the same distance, and a result counts
as ahead of another only when it is strictly better (a lower rank, or the same rank and a strictly
larger distance). Positions are counts of results strictly ahead, never indices in a sort order, so
a tie never decides who is stopped.
"""

from __future__ import annotations

import math

import numpy as np

from tune_mtl.pareto import compare_columns, distinct_rows, finite_points, nondominated_ranks

__all__ = [
    "milestones",
    "nondominated_ranks",
    "crowding_distance",
    "rung_positions",
    "continues_at_rung",
]


def crowding_distance(front: np.ndarray | list) -> np.ndarray:
    """NSGA-II crowding distance of each point of one front; larger is more isolated.

    Per objective, a point scores the gap between its two neighbours divided by the objective's
    range over the front; the two ends score infinity. Duplicates count once and share a score,
    so a front of at most two distinct points is all infinite.
    """
    array = finite_points(front)
    if len(array) == 0:
        return np.zeros(0)
    unique, inverse = distinct_rows(array)
    distance = np.zeros(len(unique))
    if len(unique) <= 2:
        distance[:] = np.inf
    else:
        for objective in range(unique.shape[1]):
            order = np.argsort(unique[:, objective], kind="stable")
            values = unique[order, objective]
            span = values[-1] - values[0]
            if span > 0:
                distance[order[1:-1]] += (values[2:] - values[:-2]) / span
            distance[order[[0, -1]]] = np.inf
    return distance[inverse]


def milestones(grace_period: float, reduction_factor: float, max_t: float) -> list[float]:
    """ASHA's rungs: ``grace_period * reduction_factor**k`` below ``max_t``, smallest first."""
    found, milestone = [], grace_period
    while milestone < max_t:
        found.append(milestone)
        milestone *= reduction_factor
    return found


def rung_positions(points: np.ndarray | list) -> np.ndarray:
    """For each point, how many points are strictly ahead of it at the rung.

    Ahead means a lower Pareto rank, or the same rank and a strictly larger crowding distance in
    that front. Tied points share a position, so position 0 is held by every point no other beats.
    """
    array = finite_points(points)
    ranks = nondominated_ranks(array)
    distance = np.empty(len(array))
    for rank in np.unique(ranks):
        members = ranks == rank
        distance[members] = crowding_distance(array[members])
    fewer_rank = (ranks[None, :] < ranks[:, None]).sum(axis=1)
    same_rank_farther = (
        (ranks[None, :] == ranks[:, None]) & (distance[None, :] > distance[:, None])
    ).sum(axis=1)
    return fewer_rank + same_rank_farther


def continues_at_rung(
    recorded: np.ndarray | list, result: np.ndarray | list, *, reduction_factor: float
) -> bool:
    """Whether a trial whose ``result`` just reached a rung goes on (ASHA's rule, on the front).

    Args:
        recorded: ``(n, n_objectives)`` results already recorded at the rung by other trials,
            including those that were stopped there.
        result: the trial's ``(n_objectives,)`` result at the rung, all objectives maximised.
        reduction_factor: eta; about 1/eta of the trials reaching a rung go on to the next.

    While the rung holds fewer than eta results, there is too little to rank on: the trial goes on
    unless a recorded result dominates it. (With one objective that stops a result below the best
    recorded one; Ray's ASHA stops one below the (1 - 1/eta) quantile, which is close for so few.)
    From eta results on, the trial goes on when fewer than ceil((n + 1) / eta) of the rung's n + 1
    results are strictly ahead of it (see `rung_positions`). So a result that dominates all others
    always goes on, and so do both ends of the first front.

    Only the results that ``result`` does not dominate are ranked: the others rank below it and
    do not change the ranks above; with as many dominators as places, no ranking is needed.
    Measured on a shared 2-core AMD EPYC VM, 1000 recorded results with two objectives and 200
    new ones near them: median 0.47 ms (90th percentile 0.76 ms) when the objectives are
    independent, the worst case, and 0.04 ms (0.43 ms) when they are correlated, as accuracies of
    related tasks are. tests/schedulers/test_pareto_rung.py repeats the measurement loosely.
    """
    if not reduction_factor > 1:
        raise ValueError(f"reduction_factor must be > 1, but got {reduction_factor}.")
    point = np.asarray(result, dtype=float).reshape(-1)
    rung = np.asarray(recorded, dtype=float).reshape(-1, len(point))
    finite_points(np.vstack([rung, point]))
    at_least = compare_columns(np.greater_equal, rung, point)
    dominators = int(np.count_nonzero(at_least & ~compare_columns(np.equal, rung, point)))
    if len(rung) < reduction_factor:
        return dominators == 0
    keep = math.ceil((len(rung) + 1) / reduction_factor)
    if dominators >= keep:  # every dominator is ahead
        return False
    dominated = compare_columns(np.less_equal, rung, point) & ~at_least
    points = np.vstack([rung[~dominated], point])
    ranks = nondominated_ranks(points)
    rank = ranks[-1]
    distance = crowding_distance(points[ranks == rank])
    in_better_fronts = int(np.count_nonzero(ranks < rank))
    farther_in_front = int(np.count_nonzero(distance[:-1] > distance[-1]))
    ahead = in_better_fronts + farther_in_front
    return ahead < keep
