"""A seeded search at concurrency 1 proposes the same configurations in the same order and gets
the same results; and a search leaves the environment as it found it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import cli_env, run_cli


@pytest.mark.e2e
def test_the_same_seed_at_concurrency_1_gives_the_same_search(tmp_path: Path) -> None:
    def run(name: str) -> pd.DataFrame:
        done = run_cli(
            "search", "--data", "synthetic", "--trials", "4", "--max-epochs", "4",
            "--concurrency", "1", "--seed", "5", "--results", str(tmp_path), "--name", name,
            cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return pd.read_csv(tmp_path / name / "trials.csv")

    first, second = run("first"), run("second")
    # Trial IDs, times and nodes differ; configurations, statuses and metrics may not.
    varying = ["trial_id", "seconds", "node_id", "node_ip"]
    pd.testing.assert_frame_equal(first.drop(columns=varying), second.drop(columns=varying))
    assert first["gamma"].nunique() == 4  # four different proposals, not one repeated
    pareto = [pd.read_csv(tmp_path / name / "pareto.csv") for name in ("first", "second")]
    pd.testing.assert_frame_equal(pareto[0].drop(columns=varying), pareto[1].drop(columns=varying))


@pytest.mark.e2e
def test_a_search_from_python_leaves_the_environment_as_it_found_it(tmp_path: Path) -> None:
    """TensorFlow and Ray set variables of their own when imported and started; the snapshot is
    taken after that, as in a notebook that already uses them."""
    script = tmp_path / "run.py"
    script.write_text(
        "import os, ray, tensorflow, tune_mtl\n"
        "ray.init(address='local', include_dashboard=False)\n"
        "before = dict(os.environ)\n"
        "tune_mtl.search(data='synthetic', trials=1, max_epochs=1, echo=lambda _: None)\n"
        "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))\n"
        "print('changed:', changed)\n"
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=cli_env(),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "changed: []"
