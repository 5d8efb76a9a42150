from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same random state: Python's, NumPy's global one and the Keras
    backend's, all three of which `keras.utils.set_random_seed` seeds (weights initialise from the
    backend's). `tests/test_training.py::test_the_seed_holds` proves that a seed gives the same
    weights."""
    import keras

    keras.utils.set_random_seed(0)


REPO = Path(__file__).resolve().parent.parent


def brute_force_mask(points: np.ndarray) -> np.ndarray:
    """Rows that no other row matches or beats on every column and beats on one (larger is
    better): the front by definition, one comparison at a time."""
    keep = []
    for i, p in enumerate(points):
        dominated = any(np.all(q >= p) and np.any(q > p) for j, q in enumerate(points) if j != i)
        keep.append(not dominated)
    return np.array(keep, dtype=bool)


def cli_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `tune-mtl` process: this checkout's package, no RAY_ADDRESS."""
    env = {**(os.environ if base is None else base), "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    return env


CLI = [sys.executable, "-m", "tune_mtl.cli"]


def run_cli(
    *args: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Runs `tune-mtl` in a fresh process, on a local Ray unless ``--address`` is given."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class FinishedSearch:
    path: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def synthetic_search(tmp_path_factory: pytest.TempPathFactory) -> FinishedSearch:
    """One real search through the CLI (4 trials, 3 epochs, synthetic data), shared by tests."""
    root = tmp_path_factory.mktemp("search")
    done = run_cli(
        "search", "--data", "synthetic", "--trials", "4", "--max-epochs", "3",
        "--results", str(root / "results"), "--name", "e2e", "--seed", "1",
        cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return FinishedSearch(root / "results" / "e2e", done.stdout, done.stderr)
