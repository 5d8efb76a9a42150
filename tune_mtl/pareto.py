"""Pareto ranks and front, hypervolume and knee point for maximised objectives: the one kernel
that the results, the progress line, the report and MO-ASHA's rungs all use.

Pure numpy over an ``(n_points, n_objectives)`` array; every objective is maximised (a minimised
metric such as a mean absolute error enters negated, see `tune_mtl.objectives`). Neither Ray nor
Keras is imported here; the exact hypervolume in three or more dimensions is Optuna's WFG
implementation, imported when first needed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

__all__ = [
    "pareto_mask",
    "nondominated_ranks",
    "hypervolume",
    "hypervolume_2d",
    "knee_index",
    "finite_points",
    "distinct_rows",
    "compare_columns",
]


def _as_points(points: np.ndarray | list, *, n_objectives: int | None = None) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim != 2 or (n_objectives is not None and array.shape[1] != n_objectives):
        want = f"(n, {n_objectives})" if n_objectives else "(n, n_objectives)"
        raise ValueError(f"points must have shape {want}, but got {array.shape}.")
    if np.isnan(array).any():
        raise ValueError("points must not contain NaN; drop failed trials first.")
    return array


def pareto_mask(points: np.ndarray | list) -> np.ndarray:
    """Marks the points that no other point dominates (all objectives maximised): rank 0 of
    `nondominated_ranks`, the kernel MO-ASHA's rungs rank with too.

    ``a`` dominates ``b`` when ``a >= b`` in every objective and ``a > b`` in at least one. Exact
    duplicates do not dominate each other, so duplicated front points are all kept. One objective
    keeps the points at its maximum.
    """
    array = _as_points(points)
    if len(array) == 0:
        return np.zeros(0, dtype=bool)
    if array.shape[1] == 1:
        return array[:, 0] == array[:, 0].max()
    return nondominated_ranks(array) == 0


def finite_points(points: np.ndarray | list) -> np.ndarray:
    """``points`` as a float array of shape (n, n_objectives >= 2), all finite."""
    array = np.asarray(points, dtype=float)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"points must have shape (n, n_objectives >= 2), but got {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError("points must be finite, but got NaN or inf; leave such results out.")
    return array


def distinct_rows(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows in lexicographic order, and each row's index among them (np.unique, faster)."""
    if array.shape[1] == 2:
        # Complex numbers sort by real part, then imaginary part: one argsort, not a lexsort.
        order = np.argsort(array[:, 0] + 1j * array[:, 1], kind="stable")
    else:
        order = np.lexsort(array.T[::-1])
    ordered = array[order]
    starts = np.ones(len(array), dtype=bool)
    starts[1:] = compare_columns(np.not_equal, ordered[1:], ordered[:-1], combine=np.logical_or)
    inverse = np.empty(len(array), dtype=np.intp)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], inverse


def compare_columns(
    compare: np.ufunc, left: np.ndarray, right: np.ndarray, *, combine: np.ufunc = np.logical_and
) -> np.ndarray:
    """``compare`` column by column, combined across columns: faster than ``axis=1`` on few."""
    mask = compare(left[..., 0], right[..., 0])
    for column in range(1, left.shape[-1]):
        combine(mask, compare(left[..., column], right[..., column]), out=mask)
    return mask


def nondominated_ranks(points: np.ndarray | list) -> np.ndarray:
    """Pareto rank of every point: 0 for the front, 1 for the front once rank 0 is removed, ...

    ``a`` dominates ``b`` when ``a >= b`` in every objective and ``a > b`` in one. Duplicates do
    not dominate each other and share a rank. Two objectives take a sort and one sweep with binary
    search over the fronts found so far, O(n log n); more take O(n^2) vectorised comparisons.
    """
    array = finite_points(points)
    if len(array) == 0:
        return np.zeros(0, dtype=np.intp)
    unique, inverse = distinct_rows(array)
    if unique.shape[1] == 2:
        return _ranks_2d_unique(unique)[inverse]
    return _ranks_by_peeling(unique)[inverse]


def _ranks_2d_unique(points: np.ndarray) -> np.ndarray:
    # Rows are distinct and sorted ascending by the first objective, then the second. Walked
    # backwards (both descending), a point is dominated by an earlier one exactly when that one's
    # second objective is at least as large. So its rank is the first front whose largest second
    # objective so far is below its own. Those largest values fall with the rank; `tails` holds
    # them negated, hence ascending, for bisect.
    tails: list[float] = []
    ranks_backwards: list[int] = []
    for negated_second in (-points[::-1, 1]).tolist():
        front = bisect_right(tails, negated_second)
        if front == len(tails):
            tails.append(negated_second)
        else:
            tails[front] = negated_second
        ranks_backwards.append(front)
    return np.array(ranks_backwards[::-1], dtype=np.intp)


def _ranks_by_peeling(unique: np.ndarray) -> np.ndarray:
    # Rows are distinct, so `>=` in every objective between two rows is domination.
    dominates = compare_columns(np.greater_equal, unique[:, None, :], unique[None, :, :])
    np.fill_diagonal(dominates, False)
    dominators_left = np.count_nonzero(dominates, axis=0)
    ranks = np.full(len(unique), -1, dtype=np.intp)
    front = np.flatnonzero(dominators_left == 0)
    rank = 0
    while len(front):
        ranks[front] = rank
        dominators_left -= np.count_nonzero(dominates[front], axis=0)
        dominators_left[front] = -1
        front = np.flatnonzero(dominators_left == 0)
        rank += 1
    return ranks


def hypervolume_2d(points: np.ndarray | list, reference: Sequence[float] | np.ndarray) -> float:
    """Area dominated by ``points`` and bounded below by ``reference`` (both objectives maximised).

    Points that do not beat the reference in both objectives add nothing. O(n log n): the front
    sorted by the first objective is summed as a staircase.
    """
    array = _as_points(points, n_objectives=2)
    reference_point = np.asarray(reference, dtype=float)
    if reference_point.shape != (2,):
        raise ValueError(f"reference must hold 2 values, but got {reference_point.tolist()}.")
    useful = array[(array > reference_point).all(axis=1)]
    if len(useful) == 0:
        return 0.0
    front = np.unique(useful[pareto_mask(useful)], axis=0)  # ascending first objective
    widths = np.diff(np.concatenate(([reference_point[0]], front[:, 0])))
    heights = front[:, 1] - reference_point[1]
    return float(np.sum(widths * heights))


def hypervolume(points: np.ndarray | list, reference: Sequence[float] | np.ndarray) -> float:
    """Volume dominated by ``points`` and bounded below by ``reference``, in any dimension.

    Points that do not beat the reference in every objective add nothing. Two objectives take the
    O(n log n) staircase; more take Optuna's exact WFG algorithm (which minimises, so both are
    negated).
    """
    reference_point = np.asarray(reference, dtype=float)
    array = _as_points(points, n_objectives=len(reference_point))
    if len(reference_point) == 2:
        return hypervolume_2d(array, reference_point)
    useful = array[(array > reference_point).all(axis=1)]
    if len(useful) == 0:
        return 0.0
    from optuna._hypervolume import compute_hypervolume

    front = np.unique(useful[pareto_mask(useful)], axis=0)
    return float(compute_hypervolume(-front, -reference_point, assume_pareto=True))


def knee_index(front: np.ndarray | list, reference: Sequence[float] | np.ndarray) -> int:
    """Index of the knee of a front: the point closest to the ideal after scaling each objective.

    Each objective is scaled from the reference point (the constant predictor) at 0 to the front's
    best at 1, so the ideal point is (1, ..., 1). The knee is the best compromise, not the end of
    the front that one task favours. Scaling from the reference rather than from the front's worst
    keeps a two-point front meaningful: a trial that learned nothing of one task is far from the
    ideal however the other trial does. Ties go to the first.
    """
    array = _as_points(front)
    if len(array) == 0:
        raise ValueError("a knee needs at least one point, but the front is empty.")
    low = np.asarray(reference, dtype=float)
    high = array.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (array - low) / span
    return int(np.argmin(np.linalg.norm(1.0 - scaled, axis=1)))
