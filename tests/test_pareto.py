from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.conftest import brute_force_mask
from tune_mtl.pareto import hypervolume, hypervolume_2d, knee_index, pareto_mask


def brute_force_hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Area of the union of boxes [reference, point], summed over vertical strips."""
    useful = points[(points > reference).all(axis=1)]
    if len(useful) == 0:
        return 0.0
    edges = np.unique(np.concatenate(([reference[0]], useful[:, 0])))
    area = 0.0
    for left, right in zip(edges[:-1], edges[1:], strict=True):
        covering = useful[useful[:, 0] >= right]
        if len(covering):
            area += (right - left) * (covering[:, 1].max() - reference[1])
    return area


def brute_force_hypervolume_nd(points: np.ndarray, reference: np.ndarray) -> float:
    """Sum of the grid cells (cut at every coordinate) whose upper corner some point dominates."""
    axes = [np.unique(np.concatenate(([r], points[:, d]))) for d, r in enumerate(reference)]
    axes = [axis[axis >= r] for axis, r in zip(axes, reference, strict=True)]
    volume = 0.0
    for cell in itertools.product(*(range(len(axis) - 1) for axis in axes)):
        upper = np.array([axis[i + 1] for axis, i in zip(axes, cell, strict=True)])
        if (points >= upper).all(axis=1).any():
            lower = np.array([axis[i] for axis, i in zip(axes, cell, strict=True)])
            volume += float(np.prod(upper - lower))
    return volume


def brute_force_knee(points: np.ndarray, reference: np.ndarray) -> int:
    best, best_distance = 0, np.inf
    high = points.max(axis=0)
    for i, point in enumerate(points):
        scaled = [
            (p - r) / (h - r) if h > r else p - r
            for p, r, h in zip(point, reference, high, strict=True)
        ]
        distance = np.sqrt(sum((1 - s) ** 2 for s in scaled))
        if distance < best_distance:
            best, best_distance = i, distance
    return best


@pytest.mark.parametrize("seed", range(200))
def test_pareto_mask_matches_brute_force_2d(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    # Small integer grids force ties and exact duplicates.
    points = rng.integers(0, 6, size=(n, 2)).astype(float) if seed % 2 else rng.random((n, 2))
    np.testing.assert_array_equal(pareto_mask(points), brute_force_mask(points))


@pytest.mark.parametrize("seed", range(50))
def test_pareto_mask_matches_brute_force_3d(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 4, size=(int(rng.integers(1, 30)), 3)).astype(float)
    np.testing.assert_array_equal(pareto_mask(points), brute_force_mask(points))


def test_duplicates_on_the_front_are_all_kept() -> None:
    points = np.array([[0.9, 0.5], [0.9, 0.5], [0.5, 0.9], [0.4, 0.4]])
    np.testing.assert_array_equal(pareto_mask(points), [True, True, True, False])


def test_empty_input_gives_empty_mask() -> None:
    assert pareto_mask(np.zeros((0, 2))).shape == (0,)


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        pareto_mask([[0.1, float("nan")]])


@pytest.mark.parametrize("seed", range(200))
def test_hypervolume_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    points = rng.integers(0, 8, size=(n, 2)).astype(float) / 8 if seed % 2 else rng.random((n, 2))
    reference = rng.random(2) * 0.5
    assert hypervolume_2d(points, reference) == pytest.approx(
        brute_force_hypervolume(points, reference), abs=1e-12
    )


@pytest.mark.parametrize("dimensions", [2, 3, 4])
@pytest.mark.parametrize("seed", range(40))
def test_nd_hypervolume_matches_brute_force(dimensions: int, seed: int) -> None:
    rng = np.random.default_rng(1000 * dimensions + seed)
    n = int(rng.integers(1, 9))
    if seed % 2:  # ties and duplicates
        points = rng.integers(0, 5, size=(n, dimensions)).astype(float) / 4
    else:
        points = rng.random((n, dimensions))
    reference = rng.random(dimensions) * 0.4 - 0.1
    assert hypervolume(points, reference) == pytest.approx(
        brute_force_hypervolume_nd(points, reference), abs=1e-12
    )


@pytest.mark.parametrize("dimensions", [2, 3, 4])
@pytest.mark.parametrize("seed", range(30))
def test_nd_front_and_knee_match_brute_force(dimensions: int, seed: int) -> None:
    rng = np.random.default_rng(500 + 100 * dimensions + seed)
    points = rng.random((int(rng.integers(1, 25)), dimensions))
    mask = pareto_mask(points)
    np.testing.assert_array_equal(mask, brute_force_mask(points))
    front = points[mask]
    reference = np.full(dimensions, -0.1)
    assert knee_index(front, reference) == brute_force_knee(front, reference)


def test_hypervolume_of_a_box_in_four_dimensions() -> None:
    assert hypervolume([[1, 2, 3, 4]], (0, 0, 0, 0)) == pytest.approx(24.0)
    assert hypervolume([[1, 2, 3, 4], [0.5, 0.5, 0.5, 0.5]], (0, 0, 0, 0)) == pytest.approx(24.0)
    assert hypervolume([[1, 2, 3, -1]], (0, 0, 0, 0)) == 0.0


def test_hypervolume_of_known_staircase() -> None:
    # Boxes from (0, 0): 1x3 and 3x1 overlapping in 1x1 -> 3 + 3 - 1 = 5.
    assert hypervolume_2d([[1, 3], [3, 1]], (0, 0)) == pytest.approx(5.0)
    assert hypervolume_2d([[0.5, 0.5]], (0.5, 0.1)) == 0.0


def test_knee_is_the_balanced_point() -> None:
    front = np.array([[0.99, 0.50], [0.90, 0.95], [0.50, 0.99]])
    assert knee_index(front, (0.1, 0.5)) == 1
    assert knee_index([[0.3, 0.3]], (0.1, 0.5)) == 0
    with pytest.raises(ValueError, match="empty"):
        knee_index(np.zeros((0, 2)), (0.1, 0.5))


def test_a_two_point_knee_is_the_trial_that_learns_both_tasks() -> None:
    # CIFAR-10 at gamma 1 and 0.5: the first is best on the 8 classes by a hair but at chance on
    # animal/vehicle. Scaled over the front alone, both points would sit at (1, 0) and (0, 1).
    front = [[0.684, 0.521], [0.671, 0.927]]
    assert knee_index(front, (0.125, 0.5)) == 1
    assert knee_index(front[::-1], (0.125, 0.5)) == 0
