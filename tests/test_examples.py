"""The example a new user copies (examples/fashion_three_tasks), run as its README says from a copy
outside the package: through the real CLI and as a Python script, on a small slice of the real
Fashion-MNIST. The results are read back with pandas and the front is derived again by brute force.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO, brute_force_mask, cli_env, run_cli
from tune_mtl.data import fashion_mnist
from tune_mtl.data.spec import stratified_split

pytestmark = pytest.mark.e2e

EXAMPLE = REPO / "examples" / "fashion_three_tasks"
# The example's own knobs for a quick run: the first 2000 training and 500 test images.
SUBSET = {"FASHION_TRAIN_IMAGES": "2000", "FASHION_TEST_IMAGES": "500"}
TASKS = {"item": "accuracy", "group": "accuracy", "size": "mae"}
VAL_COLUMNS = [f"val_{task}_{metric}" for task, metric in TASKS.items()]
TEST_COLUMNS = [f"test_{task}_{metric}" for task, metric in TASKS.items()]
WEIGHTS = [f"weight_{task}" for task in TASKS]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example folder, as a user would have it: no tune-mtl source around it."""
    copy = tmp_path / "fashion_three_tasks"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("results", "__pycache__"))
    return copy


def check_search(folder: Path, *, trials: int) -> pd.DataFrame:
    """Checks trials.csv, pareto.csv and summary.json of a finished search; returns pareto.csv."""
    table = pd.read_csv(folder / "trials.csv", dtype={"trial_id": str})
    front = pd.read_csv(folder / "pareto.csv", dtype={"trial_id": str})
    summary = json.loads((folder / "summary.json").read_text())

    assert len(table) == trials and table["trial_id"].is_unique
    assert set(table["status"]) <= {"completed", "stopped"}
    # Every task's metric, every trial, in range; the loss weights searched on the simplex.
    values = table[VAL_COLUMNS]
    assert values.notna().all().all()
    assert values[["val_item_accuracy", "val_group_accuracy"]].stack().between(0, 1).all()
    assert (values["val_size_mae"] >= 0).all()
    assert table[WEIGHTS].stack().between(0, 1).all()
    np.testing.assert_allclose(table[WEIGHTS].sum(axis=1), 1.0, rtol=1e-9)
    assert len(table[WEIGHTS].round(6).drop_duplicates()) == trials
    assert table["learning_rate"].between(1e-3, 1e-2).all()
    assert table["shared_width"].between(32, 128).all()

    # The front: exactly the completed trials that no other completed trial dominates on item
    # accuracy, group accuracy and size MAE, the MAE counted as smaller is better.
    completed = table[table["status"] == "completed"].reset_index(drop=True)
    points = completed[VAL_COLUMNS].to_numpy() * np.array([1.0, 1.0, -1.0])
    expected = set(completed["trial_id"][brute_force_mask(points)])
    assert expected and set(front["trial_id"]) == expected
    assert front["knee"].sum() == 1
    assert front[TEST_COLUMNS].notna().all().all()
    assert front[["test_item_accuracy", "test_group_accuracy"]].stack().between(0, 1).all()

    assert [task["name"] for task in summary["tasks"]] == list(TASKS)
    assert [task["metric"] for task in summary["tasks"]] == list(TASKS.values())
    assert [task["direction"] for task in summary["tasks"]] == ["max", "max", "min"]
    return front


def expected_references() -> list[float]:
    """The constant predictors' validation scores, from the images and numpy: the most frequent
    training class's share of validation, and the mean distance of validation sizes (share of
    pixels above 32) to the training median. Validation is the search's: 10% of train, seed 0."""
    images, items = fashion_mnist.load_arrays()[:2]
    count = int(SUBSET["FASHION_TRAIN_IMAGES"])
    images, items = images[:count], items[:count]
    labels = {
        "item": items,
        "group": fashion_mnist.GROUP_OF_ITEM[items],
        "size": (images > 32).reshape(count, -1).mean(axis=1),
    }
    train, val = stratified_split(items, fraction=0.1, seed=0)
    references = []
    for task in ("item", "group"):
        majority = np.bincount(labels[task][train]).argmax()
        references.append(float(np.mean(labels[task][val] == majority)))
    size = labels["size"]
    references.append(float(np.mean(np.abs(size[val] - np.median(size[train])))))
    return references


def test_the_example_runs_through_the_cli(example: Path) -> None:
    # Without early stopping every trial completes, so all three are candidates for the front.
    done = run_cli(
        "search", "--space", "space.yaml", "--trials", "3", "--max-epochs", "2",
        "--examples-per-epoch", "500", "--scheduler", "none", "--results", "results",
        "--name", "cli",
        cwd=example, env={**os.environ, **SUBSET},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tasks item (10 classes), group (3 classes), size (regression)" in done.stdout
    assert "Pareto front:" in done.stdout

    folder = example / "results" / "cli"
    check_search(folder, trials=3)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["data"].endswith("models.py:load")
    assert summary["model"].endswith("models.py:build")
    references = [task["reference"] for task in summary["tasks"]]
    np.testing.assert_allclose(references, expected_references(), rtol=1e-6)


def test_the_example_runs_as_a_python_script(example: Path) -> None:
    results = example / "results"
    done = subprocess.run(
        [sys.executable, "search.py", "--trials", "2", "--max-epochs", "1",
         "--examples-per-epoch", "500", "--results", str(results)],
        cwd=example, env=cli_env({**os.environ, **SUBSET}),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    (folder,) = results.iterdir()
    front = check_search(folder, trials=2)
    knee = front.loc[front["knee"], "trial_id"].item()
    assert f"Knee: trial {knee}," in done.stdout
    assert (folder / "report" / "index.html").is_file()
    exported = json.loads((folder / "knee.json").read_text())
    assert exported["trial_id"] == knee
    assert [output["output"] for output in exported["outputs"]] == list(TASKS)
    assert (folder / "knee.keras").is_file()
