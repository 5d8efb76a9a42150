"""`tune-mtl export`: the chosen trial's model, loaded by plain Keras in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO, run_cli
from tune_mtl.cli import main
from tune_mtl.data import synthetic

pytestmark = pytest.mark.e2e

# Plain Keras loads and runs the model; tune_mtl only rebuilds the synthetic test images.
PREDICT = """
import json, sys
import keras, numpy as np
from tune_mtl.data import load_dataset

model_path, seed = sys.argv[1], int(sys.argv[2])
model = keras.models.load_model(model_path)
test = load_dataset("synthetic", seed=seed).test
predictions = model.predict(test.inputs, batch_size=16, verbose=0)
print(json.dumps({
    "outputs": {name: list(values.shape) for name, values in predictions.items()},
    "row_sums": [float(np.abs(values.sum(axis=1) - 1).max()) for values in predictions.values()],
    "correct": {name: int((values.argmax(axis=1) == test.labels[name]).sum())
                for name, values in predictions.items()},
    "images": len(test),
    "parameters": model.count_params(),
}))
"""
TASKS = synthetic.TASKS  # shape (4 classes) and family (2 classes)


@pytest.fixture(scope="module")
def exported(synthetic_search, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "knee.keras"
    done = run_cli("export", str(synthetic_search.path), "--knee", "--out", str(out),
                   cwd=out.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("Exported trial ")
    return out


def test_the_sidecar_describes_the_knee(synthetic_search, exported: Path) -> None:
    info = json.loads(exported.with_suffix(".json").read_text())
    summary = json.loads((synthetic_search.path / "summary.json").read_text())
    pareto = pd.read_csv(synthetic_search.path / "pareto.csv", dtype={"trial_id": str})
    knee = pareto[pareto["knee"]].iloc[0]

    assert info["trial_id"] == summary["knee_trial_id"] == knee["trial_id"]
    assert info["knee"] and info["on_front"] and info["status"] == "completed"
    assert (info["data"], info["model"]) == ("synthetic", "small")
    assert info["epochs"] == knee["epochs"] == 3
    # The configuration Ray ran: every hyperparameter but the loss weights derived from it.
    weights = [f"weight_{task.name}" for task in TASKS]
    assert sorted([*info["config"], *weights]) == sorted(summary["params"])
    for name, value in info["config"].items():
        assert value == pytest.approx(knee[name])
    assert info["outputs"] == [
        {"output": "shape", "kind": "classification", "metric": "accuracy",
         "classes": ["square", "cross", "bar", "dot"]},
        {"output": "family", "kind": "classification", "metric": "accuracy",
         "classes": ["large", "small"]},
    ]  # fmt: skip
    assert info["inputs"] == [{"name": "image", "shape": [12, 12, 1], "dtype": "uint8"}]
    assert info["metrics"]["validation"] == {
        "shape": pytest.approx(knee["val_shape_accuracy"]),
        "family": pytest.approx(knee["val_family_accuracy"]),
    }
    assert info["metrics"]["test"] == {
        "shape": pytest.approx(knee["test_shape_accuracy"]),
        "family": pytest.approx(knee["test_family_accuracy"]),
    }


def test_a_fresh_process_loads_it_and_matches_the_recorded_test_accuracy(
    synthetic_search, exported: Path
) -> None:
    """The slice is the synthetic test split, all 64 images, rebuilt from the search's seed.

    The search evaluated the same weights on the same images, so the counts should agree exactly;
    a different batch size (16 here, 1024 in the search) can change float summation order and so
    flip an argmax whose top two probabilities tie to rounding. One image per head is allowed for
    that, i.e. 1/64 of accuracy. Swapped or missing heads show in the output shapes.
    """
    info = json.loads(exported.with_suffix(".json").read_text())
    summary = json.loads((synthetic_search.path / "summary.json").read_text())
    done = subprocess.run(
        [sys.executable, "-c", PREDICT, str(exported), str(summary["options"]["seed"])],
        capture_output=True, text=True, timeout=300, cwd=exported.parent,
        env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    predicted = json.loads(done.stdout.strip().splitlines()[-1])

    assert predicted["images"] == 64
    assert predicted["outputs"] == {"shape": [64, 4], "family": [64, 2]}
    assert max(predicted["row_sums"]) < 1e-4  # softmax heads
    assert predicted["parameters"] == info["parameters"]
    recorded = info["metrics"]["test"]
    assert set(predicted["correct"]) == set(recorded)
    for name, correct in predicted["correct"].items():
        assert abs(correct - recorded[name] * 64) <= 1, (name, correct, recorded[name])


def test_exporting_a_trial_by_id_that_is_not_on_the_front(synthetic_search, tmp_path) -> None:
    trials = pd.read_csv(synthetic_search.path / "trials.csv", dtype={"trial_id": str})
    pareto = pd.read_csv(synthetic_search.path / "pareto.csv", dtype={"trial_id": str})
    other = trials[~trials["trial_id"].isin(pareto["trial_id"])].iloc[0]
    out = tmp_path / "other.keras"
    assert main(["export", str(synthetic_search.path), "--trial", other["trial_id"],
                 "--out", str(out)]) == 0  # fmt: skip
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["trial_id"] == other["trial_id"] and not info["on_front"]
    assert info["epochs"] == other["epochs"] and info["metrics"]["test"] is None
    assert info["metrics"]["validation"] == {
        "shape": pytest.approx(other["val_shape_accuracy"]),
        "family": pytest.approx(other["val_family_accuracy"]),
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "pass exactly one of --knee or --trial ID"),
        (["--knee", "--trial", "x"], "pass exactly one of --knee or --trial ID"),
        (["--trial", "nope"], "trial 'nope' is not in"),
        (["--knee", "--out", "model.h5"], "--out must end in .keras"),
        (["--knee", "--out", "no/such/folder/model.keras"], "no/such/folder is not a folder"),
    ],
)
def test_bad_export_requests_are_one_line_and_exit_2(
    synthetic_search, tmp_path, monkeypatch, capsys, args: list[str], fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if "--out" not in args:
        args = [*args, "--out", "model.keras"]
    assert main(["export", str(synthetic_search.path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0], err
    assert not (tmp_path / "model.keras").exists()


def test_existing_files_are_kept_unless_overwrite(synthetic_search, tmp_path, capsys) -> None:
    out = tmp_path / "model.keras"
    out.write_text("mine")
    args = ["export", str(synthetic_search.path), "--knee", "--out", str(out)]
    assert main(args) == 2
    assert f"{out} already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "mine"
    assert main([*args, "--overwrite"]) == 0
    assert out.read_bytes()[:2] == b"PK"  # a .keras file is a zip archive


def test_a_folder_at_out_is_refused_even_with_overwrite(synthetic_search, tmp_path, capsys) -> None:
    out = tmp_path / "models.keras"
    (out / "mine").mkdir(parents=True)
    args = ["export", str(synthetic_search.path), "--knee", "--out", str(out), "--overwrite"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: --out: {out} is a folder, which export does not replace; pass a file name such "
        "as model.keras."
    ]
    assert [path.name for path in out.iterdir()] == ["mine"]
    assert not out.with_suffix(".json").exists()


@pytest.mark.parametrize("command", ["export", "report"])
def test_an_out_that_cannot_be_written_is_one_line(command: str, synthetic_search, capsys) -> None:
    # /proc takes no new files, not even root's: the same refusal as a read-only file system.
    where = Path("/proc") if command == "export" else Path("/proc/tune-mtl-out")
    out = where / "m.keras" if command == "export" else where
    extra = ["--knee"] if command == "export" else []
    assert main([command, str(synthetic_search.path), *extra, "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out: cannot write into {where} (No such file or directory); pass a folder you "
        "can write to.\n"
    )


def test_a_model_with_several_inputs_has_each_in_the_sidecar(tmp_path: Path) -> None:
    import keras

    from tune_mtl.export import _input_specs

    features = keras.Input(shape=(4,), name="features")
    image = keras.Input(shape=(8, 8, 1), dtype="uint8", name="image")
    flat = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(image))
    joined = keras.layers.Concatenate()([features, flat])
    outputs = {"y": keras.layers.Dense(1)(joined)}
    model = keras.Model({"features": features, "image": image}, outputs)
    model.save(tmp_path / "two.keras")
    specs = _input_specs(tmp_path / "two.keras")
    assert sorted(specs, key=lambda spec: spec["name"]) == [
        {"name": "features", "shape": [4], "dtype": "float32"},
        {"name": "image", "shape": [8, 8, 1], "dtype": "uint8"},
    ]
