"""Pareto front, hypervolume and knee point for maximised objectives.

Pure numpy over an ``(n_points, n_objectives)`` array; every objective is maximised (a minimised
metric such as a mean absolute error enters negated, see `tune_mtl.objectives`). Neither Ray nor
Keras is imported here; the exact hypervolume in three or more dimensions is Optuna's WFG
implementation, imported when first needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pareto_mask", "hypervolume", "hypervolume_2d", "knee_index"]


def _as_points(points: np.ndarray | list, *, n_objectives: int | None = None) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim != 2 or (n_objectives is not None and array.shape[1] != n_objectives):
        want = f"(n, {n_objectives})" if n_objectives else "(n, n_objectives)"
        raise ValueError(f"points must have shape {want}, but got {array.shape}.")
    if np.isnan(array).any():
        raise ValueError("points must not contain NaN; drop failed trials first.")
    return array


def pareto_mask(points: np.ndarray | list) -> np.ndarray:
    """Marks the points that no other point dominates (all objectives maximised).

    ``a`` dominates ``b`` when ``a >= b`` in every objective and ``a > b`` in at least one. Exact
    duplicates do not dominate each other, so duplicated front points are all kept.

    Two objectives take a sort and a running maximum, O(n log n); more take O(n^2) comparisons.
    """
    array = _as_points(points)
    if len(array) == 0:
        return np.zeros(0, dtype=bool)
    unique, inverse = np.unique(array, axis=0, return_inverse=True)
    unique_mask: np.ndarray
    if unique.shape[1] == 2:
        unique_mask = _pareto_mask_2d_unique(unique)
    else:
        at_least = np.all(unique[:, None, :] >= unique[None, :, :], axis=2)
        # Points are unique, so `>=` everywhere between two distinct rows is domination.
        np.fill_diagonal(at_least, False)
        unique_mask = ~np.any(at_least, axis=0)
    return unique_mask[inverse.reshape(-1)]


def _pareto_mask_2d_unique(points: np.ndarray) -> np.ndarray:
    # Sorted by the first objective descending, then the second descending, a point is on the front
    # exactly when its second objective beats every point before it.
    order = np.lexsort((-points[:, 1], -points[:, 0]))
    second = points[order, 1]
    best_before = np.concatenate(([-np.inf], np.maximum.accumulate(second)[:-1]))
    mask = np.empty(len(points), dtype=bool)
    mask[order] = second > best_before
    return mask


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
