from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same global random state."""
    random.seed(0)
    np.random.seed(0)


REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs `tune-mtl` in a fresh process, on a local Ray (no RAY_ADDRESS)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "tune_mtl.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class FinishedSearch:
    path: Path
    stdout: str


@pytest.fixture(scope="session")
def synthetic_search(tmp_path_factory: pytest.TempPathFactory) -> FinishedSearch:
    """One real search through the CLI (4 trials, 3 epochs, synthetic data), shared by tests."""
    root = tmp_path_factory.mktemp("search")
    done = run_cli(
        "search", "--dataset", "synthetic", "--trials", "4", "--max-epochs", "3",
        "--results", str(root / "results"), "--name", "e2e", "--seed", "1",
        cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return FinishedSearch(root / "results" / "e2e", done.stdout)
