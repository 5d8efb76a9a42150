"""A user's own model and data: three tasks (two classification, one regression) searched end to
end from a folder outside the package, through the CLI and from Python; and every bad builder or
loader refused in one line before anything is written."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import brute_force_mask, cli_env, run_cli
from tune_mtl.cli import main

OWN_CODE = Path(__file__).resolve().parent / "own_code" / "models.py"
VAL = ["val_colour_accuracy", "val_parity_accuracy", "val_size_mae"]
SIGNS = np.array([1.0, 1.0, -1.0])  # accuracy up, mean absolute error down
SPACE = """\
loss_weights: {type: simplex}
params:
  learning_rate: {type: loguniform, low: 3.0e-3, high: 3.0e-2}
  shared_width: {type: int, low: 8, high: 32}
start:
  - {learning_rate: 0.01, shared_width: 16}
"""


def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copy(OWN_CODE, folder / "models.py")
    (folder / "space.yaml").write_text(SPACE)
    return folder


def check_results(experiment: Path, trials_count: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    pareto = pd.read_csv(experiment / "pareto.csv", dtype={"trial_id": str})
    summary = json.loads((experiment / "summary.json").read_text())
    assert len(trials) == trials_count
    assert set(VAL) <= set(trials.columns)
    weights = trials[["weight_colour", "weight_parity", "weight_size"]]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert (weights > 0).all().all() and weights.nunique().min() > 1
    # The front re-derived in 3-D from the completed trials, minding that MAE is minimised.
    completed = trials[trials["status"] == "completed"].reset_index(drop=True)
    assert len(completed) >= 2
    on_front = np.flatnonzero(brute_force_mask(completed[VAL].to_numpy() * SIGNS))
    assert set(pareto["trial_id"]) == set(completed.loc[sorted(on_front), "trial_id"])
    assert pareto["knee"].sum() == 1
    assert (pareto["test_size_mae"] > 0).all()
    assert pareto[["test_colour_accuracy", "test_parity_accuracy"]].stack().between(0, 1).all()
    tasks = {task["name"]: task for task in summary["tasks"]}
    assert tasks["size"]["direction"] == "min" and tasks["size"]["metric"] == "mae"
    assert tasks["colour"]["kind"] == "classification"
    assert summary["hypervolume_reference"] == [
        tasks[n]["reference"] for n in summary["objectives"]
    ]
    return trials, pareto


@pytest.mark.e2e
def test_a_three_task_search_of_the_users_own_model_through_the_cli(tmp_path: Path) -> None:
    folder = user_folder(tmp_path)
    done = run_cli(
        "search", "--model", "models.py:build", "--data", "models.py:load", "--space",
        "space.yaml", "--trials", "4", "--max-epochs", "3", "--scheduler", "none", "--name", "own",
        cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tasks colour (3 classes), parity (2 classes), size (regression)" in done.stdout
    experiment = folder / "results" / "own"
    trials, pareto = check_results(experiment, 4)
    assert (trials["status"] == "completed").all()
    # The space's start point ran as given; the sampler proposed the others.
    started = trials[(trials["learning_rate"] == 0.01) & (trials["shared_width"] == 16)]
    assert len(started) == 1 and trials["learning_rate"].nunique() == 4

    exported = run_cli("export", str(experiment), "--knee", "--out", "knee.keras", cwd=folder)
    assert exported.returncode == 0, exported.stderr[-2000:]
    sidecar = json.loads((folder / "knee.json").read_text())
    assert [o["output"] for o in sidecar["outputs"]] == ["colour", "parity", "size"]
    knee_row = trials.set_index("trial_id").loc[sidecar["trial_id"]]
    assert sidecar["loss_weights"] == {
        name: pytest.approx(knee_row[f"weight_{name}"]) for name in ("colour", "parity", "size")
    }
    assert sidecar["metrics"]["test"]["size"] == pytest.approx(
        pareto.loc[pareto["knee"], "test_size_mae"].item()
    )
    script = (
        "import keras, numpy as np, sys; sys.path.insert(0, '.'); import models\n"
        "x, labels = models.arrays(60, 1)\n"
        "out = keras.models.load_model('knee.keras').predict(x, verbose=0)\n"
        "print(float(np.mean(np.abs(out['size'][:, 0] - labels['size']))))\n"
    )
    predicted = subprocess.run([sys.executable, "-c", script], cwd=folder, env=cli_env(),
                               capture_output=True, text=True, timeout=300)  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    mae = float(predicted.stdout.strip().splitlines()[-1])
    assert mae == pytest.approx(sidecar["metrics"]["test"]["size"], rel=1e-4)


@pytest.mark.e2e
def test_the_same_search_from_python_with_plain_functions(tmp_path: Path) -> None:
    """A builder defined in the script itself (as in a notebook) reaches Ray's workers by value;
    the data go in as a Dataset."""
    folder = user_folder(tmp_path)
    source = OWN_CODE.read_text().split("def build_list")[0]  # load, build and what they use
    script = source + textwrap.dedent("""

        if __name__ == "__main__":
            import tune_mtl

            result = tune_mtl.search(
                model=build, data=load(), space="space.yaml", trials=3, max_epochs=2,
                scheduler="none", name="notebook", seed=3,
            )
            print("front", len(result.pareto), "knee", result.knee["trial_id"])
            # What the files give back is what the search returned.
            import pandas as pd

            again = tune_mtl.load_results(result.path)
            pd.testing.assert_frame_equal(again.trials, result.trials)
            pd.testing.assert_frame_equal(again.pareto, result.pareto)
            assert again.summary == result.summary
    """)
    (folder / "notebook.py").write_text(script)
    (folder / "models.py").unlink()  # nothing to import: the functions live in __main__
    done = subprocess.run([sys.executable, "notebook.py"], cwd=folder, env=cli_env(),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    check_results(folder / "results" / "notebook", 3)
    options = json.loads((folder / "results" / "notebook" / "search.json").read_text())
    assert options["model"] is None and options["data"] is None  # resume needs them passed again


BAD_MODELS = [
    ("build_missing_output", "no output called 'size'"),
    ("build_extra_output", "output 'colour_logits' is not a task"),
    (
        "build_wrong_shape",
        "output 'parity' has shape ('batch', 3), but the classification task needs (batch, 2)",
    ),
    ("build_logits", "output 'colour' is not a probability over its 3 classes (its rows sum to"),
    ("build_nan", "output 'size' is NaN or infinite on a few examples of the untrained model"),
    ("build_compiled", "returned a compiled model; return it uncompiled"),
    (
        "build_raises",
        "'build_raises' raised RuntimeError: no GPU found for the big model; fix it (--debug shows its "
        "traceback)",
    ),
    ("build_nothing", "returned NoneType, not a keras.Model"),
    ("build_wrong_input", "each example is (12,) float32: make the model's Input match it"),
    ("build_absent", "has no function 'build_absent'"),
]
BAD_DATA = [
    ("load_different_lengths", "`train` arrays differ in length (labels['colour'] 200"),
    ("load_label_outside_classes", "`train` labels['colour'] holds 3 at row 7, outside the task's classes 0..2"),
    ("load_nan_target", "`train` labels['size'] holds 1 NaN or infinite values (first at row 11)"),
    ("load_task_without_labels", "task 'parity' has no labels in `train`"),
    ("load_arrays_only", "returned tuple, not a tune_mtl.Dataset"),
    ("load_raises", "raised FileNotFoundError: /data/train.npz; fix it (--debug shows its traceback)"),
]  # fmt: skip


def refused(args: list[str], results: Path, capsys) -> str:
    assert main(["search", *args, "--results", str(results)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not results.exists()  # nothing written
    return lines[0]


@pytest.mark.parametrize(
    ("builder", "loader", "fragment"),
    [(builder, "load", fragment) for builder, fragment in BAD_MODELS]
    + [("build", loader, fragment) for loader, fragment in BAD_DATA],
)
def test_a_bad_builder_or_bad_data_is_one_line_and_nothing_is_written(
    builder: str, loader: str, fragment: str, tmp_path: Path, capsys
) -> None:
    line = refused(["--model", f"{OWN_CODE}:{builder}", "--data", f"{OWN_CODE}:{loader}"],
                   tmp_path / "results", capsys)  # fmt: skip
    assert fragment in line


@pytest.mark.parametrize(
    ("space", "fragment"),
    [
        ("params:\n  gamma: {type: uniform, low: 0, high: 1}\n", "gamma weighs two tasks, but the data has 3"),
        ("objectives: [colour, weight]\nparams:\n  dropout: {type: uniform, low: 0, high: 0.3}\n",
         "`weight` in the search space's objectives"),
        ("constraints: {colour: {min: 0.5}, parity: {min: 0.5}, size: {max: 1}}\n"
         "params:\n  dropout: {type: uniform, low: 0, high: 0.3}\n",
         "every task is a constraint"),
    ],
)  # fmt: skip
def test_a_space_that_does_not_fit_the_tasks_is_refused(
    space: str, fragment: str, tmp_path: Path, capsys
) -> None:
    (tmp_path / "space.yaml").write_text(space)
    args = ["--model", f"{OWN_CODE}:build", "--data", f"{OWN_CODE}:load", "--space",
            str(tmp_path / "space.yaml")]  # fmt: skip
    assert fragment in refused(args, tmp_path / "results", capsys)


def test_module_strings_and_list_outputs_resolve(tmp_path: Path, monkeypatch) -> None:
    from tune_mtl.building import build_model
    from tune_mtl.user_code import resolve_function

    monkeypatch.syspath_prepend(str(OWN_CODE.parent.parent))
    code = resolve_function("own_code.models:build_list", flag="--model", builtins={})
    assert code.reference == "own_code.models:build_list"
    assert code.ship == (str(OWN_CODE.parent),)  # the package's folder goes to Ray's workers
    dataset = resolve_function(f"{OWN_CODE}:load", flag="--data", builtins={}).function()
    dataset = dataset.with_validation(seed=0)
    model = build_model(code.function, {}, dataset.tasks, sample=dataset.train.head(2))
    assert sorted(model.output_names) == ["colour", "parity", "size"]


def test_seeded_validation_split_is_stratified_on_the_first_classification_task() -> None:
    from tune_mtl.user_code import resolve_function

    load = resolve_function(f"{OWN_CODE}:load", flag="--data", builtins={}).function
    first, again, other = (load().with_validation(seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(first.val.inputs, again.val.inputs)
    assert not np.array_equal(first.val.inputs, other.val.inputs)
    train_counts = np.bincount(load().train.labels["colour"])
    np.testing.assert_array_equal(
        np.bincount(first.val.labels["colour"]), np.round(0.1 * train_counts).astype(int)
    )
    assert len(first.train) + len(first.val) == 200
    for name in ("colour", "parity", "size"):
        assert len(first.val.labels[name]) == len(first.val.inputs)


def test_every_task_pair_of_weights_is_searched() -> None:
    """Three weights per trial from three sampler values: each pair of tasks can trade off."""
    from tune_mtl.weights import loss_weights

    configs = [{"simplex_a": a, "simplex_b": b, "simplex_c": c}
               for a, b, c in itertools.product([0.05, 0.5, 0.95], repeat=3)]  # fmt: skip
    weights = np.array([list(loss_weights(c, ["a", "b", "c"]).values()) for c in configs])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    for i, j in itertools.combinations(range(3), 2):
        assert (weights[:, i] > weights[:, j]).any() and (weights[:, i] < weights[:, j]).any()


def test_a_package_in_the_current_folder_imports_as_with_python_m(
    tmp_path: Path, monkeypatch
) -> None:
    """The `tune-mtl` script puts its own folder first on sys.path, not the user's."""
    from tune_mtl.user_code import resolve_function

    package = tmp_path / "mine_here"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(OWN_CODE.read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    code = resolve_function("mine_here.models:build", flag="--model", builtins={})
    assert code.reference == "mine_here.models:build" and code.ship == (str(package),)
    assert code.function.__module__ == "mine_here.models"
    monkeypatch.delitem(sys.modules, "mine_here")
    monkeypatch.delitem(sys.modules, "mine_here.models")
