"""Median and range over repeated runs, read back from result folders written by tune-mtl."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.repeated_runs import main, over_runs, run_figures
from tests.test_results import OBJECTIVES, summary_for
from tune_mtl.results import front_of, load_results, write_results

REPO = Path(__file__).resolve().parent.parent


def _run(folder: Path, test_shape: list[float], test_family: list[float], wall: float) -> Path:
    """A finished search of two completed trials on the front and one stopped."""
    trials = pd.DataFrame({
        "trial_id": ["0a", "0b", "0c"], "status": ["completed", "completed", "stopped"],
        "gamma": [0.2, 0.8, 0.5], "learning_rate": [1e-3, 2e-3, 3e-3], "epochs": [9, 9, 1],
        "val_shape_accuracy": [0.6, 0.9, 0.95], "val_family_accuracy": [0.95, 0.7, 0.99],
    })  # fmt: skip
    front = front_of(trials, OBJECTIVES)  # sorted by shape accuracy, best first: 0b, 0a
    front["test_shape_accuracy"] = test_shape
    front["test_family_accuracy"] = test_family
    summary = summary_for(
        OBJECTIVES, front, name=folder.name, wall_seconds=wall,
        status_counts={"completed": 2, "stopped": 1}, hypervolume_test_loss=1.5,
        options={"trials": 3, "data": "synthetic", "space": "/x/search_spaces/default.yaml"},
    )  # fmt: skip
    write_results(folder, trials, front, summary)
    return folder


def test_each_runs_figures_and_the_median_and_range_over_runs(tmp_path: Path) -> None:
    folders = [
        _run(tmp_path / "r1", [0.91, 0.70], [0.80, 0.97], wall=600),
        _run(tmp_path / "r2", [0.88, 0.72], [0.81, 0.99], wall=540),
        _run(tmp_path / "r3", [0.93, 0.71], [0.79, 0.98], wall=570),
    ]
    figures = run_figures(load_results(folders[1]))
    assert figures["best"] == {"shape": 0.88, "family": 0.99}
    knee = load_results(folders[1]).knee
    assert figures["knee"] == {"shape": knee["test_shape_accuracy"],
                               "family": knee["test_family_accuracy"]}  # fmt: skip
    assert (figures["trials"], figures["completed"], figures["front_size"]) == (3, 2, 2)

    out = tmp_path / "docs" / "runs.md"
    argv = [*map(str, folders), "--out", str(out), "--command", "tune-mtl search --trials 3",
            "--bar", "shape=0.90", "--bar", "family=0.98"]  # fmt: skip
    assert main(argv) == 0
    page = out.read_text()
    assert page.startswith("# 3 runs of `tune-mtl search --trials 3`\n")
    assert "space default.yaml" in page and "trials 3" in page
    median = next(line for line in page.splitlines() if line.startswith("| median (range)"))
    assert "| 9 min 30 s (9 min 00 s to 10 min 00 s) |" in median
    assert "| 0.9100 (0.8800 to 0.9300) | 0.9800 (0.9700 to 0.9900) |" in median
    assert "- The front's best test shape accuracy >= 0.9: 2 of 3 runs." in page
    assert "- The front's best test family accuracy >= 0.98: 2 of 3 runs." in page
    raw = json.loads(out.with_suffix(".json").read_text())
    assert [run["best"]["shape"] for run in raw["runs"]] == [0.91, 0.88, 0.93]
    assert raw["bars"] == {"shape": 0.9, "family": 0.98}


def test_a_value_some_run_lacks_has_no_median() -> None:
    assert over_runs([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)
    assert over_runs([3.0, None]) is None
    assert over_runs([]) is None


@pytest.mark.parametrize(
    ("bar", "message"),
    [("shape", "--bar 'shape': give TASK=VALUE, e.g. --bar item=0.90."),
     ("size=3", "--bar size: not an objective of these runs; choose from family, shape.")],
)  # fmt: skip
def test_a_bad_bar_is_one_line_and_exit_2(tmp_path: Path, bar: str, message: str) -> None:
    folder = _run(tmp_path / "r1", [0.91, 0.70], [0.80, 0.97], wall=600)
    done = subprocess.run(
        [sys.executable, "benchmarks/repeated_runs.py", str(folder), "--out",
         str(tmp_path / "p.md"), "--command", "x", "--bar", bar],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"Error: {message}\n"
    assert not (tmp_path / "p.md").exists()
