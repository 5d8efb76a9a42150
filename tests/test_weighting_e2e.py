"""A search over every loss weighting through the real CLI and Ray, on synthetic data; the results
read back with pandas, TensorBoard's own reader and, for the exported models, Keras alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_cli
from tune_mtl.data.synthetic import load
from tune_mtl.export import export_model
from tune_mtl.trial_files import TRAINING_FILE, latest_checkpoint
from tune_mtl.weighting.model import WeightedModel, load_checkpoint

pytestmark = pytest.mark.e2e

STRATEGIES = ["static", "uncertainty", "dwa", "pcgrad", "gradnorm"]
SPACE = """\
scheduler: none
batch_size: 32
params:
  weighting: {type: grid, values: [static, uncertainty, dwa, pcgrad, gradnorm]}
  gamma: 0.3
  dwa_temperature: 2.0
  gradnorm_alpha: 1.5
  learning_rate: 0.003
"""
# Keras alone: loads each exported model, predicts, and proves tune_mtl was never imported.
KERAS_ONLY = """\
import sys
import keras
import numpy as np
inputs = np.load(sys.argv[1])
out = {}
for path in sys.argv[3:]:
    model = keras.models.load_model(path)
    for name, values in model.predict(inputs, verbose=0).items():
        out[path + ":" + name] = values
assert not any(m.split(".")[0] == "tune_mtl" for m in sys.modules), "tune_mtl was imported"
np.savez(sys.argv[2], **out)
"""


def _epochs(experiment: Path, trial_id: str) -> list[dict]:
    lines = (experiment / f"trial_{trial_id}" / "result.json").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_search_over_weightings_records_and_exports_each(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    done = run_cli(
        "search", "--data", "synthetic", "--space", str(tmp_path / "space.yaml"),
        "--trials", "5", "--max-epochs", "3", "--results", str(tmp_path / "results"),
        "--name", "weighting", "--seed", "0",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    experiment = tmp_path / "results" / "weighting"
    trials = pd.read_csv(experiment / "trials.csv")
    summary = json.loads((experiment / "summary.json").read_text())

    assert sorted(trials["weighting"]) == sorted(STRATEGIES)
    assert (trials["status"] == "completed").all() and (trials["epochs"] == 3).all()
    np.testing.assert_allclose(trials["weight_shape"] + trials["weight_family"], 1.0, rtol=1e-5)
    by_strategy = trials.set_index("weighting")
    assert by_strategy.loc["static", "weight_shape"] == pytest.approx(0.3)
    assert by_strategy.loc["pcgrad", "weight_shape"] == pytest.approx(0.5)
    # Learned weights moved away from their equal start.
    for strategy in ("uncertainty", "gradnorm", "dwa"):
        assert by_strategy.loc[strategy, "weight_shape"] != pytest.approx(0.5, abs=1e-4)

    # DWA: equal weights in epochs 1 and 2, then the softmax of the loss ratios over T = 2.
    dwa = _epochs(experiment, by_strategy.loc["dwa", "trial_id"])
    assert [r["weight_shape"] for r in dwa[:2]] == [0.5, 0.5]
    ratios = np.array([dwa[1][f"{t}_loss"] / dwa[0][f"{t}_loss"] for t in ("shape", "family")])
    expected = np.exp(ratios / 2.0) / np.exp(ratios / 2.0).sum()
    np.testing.assert_allclose([dwa[2]["weight_shape"], dwa[2]["weight_family"]], expected)
    assert by_strategy.loc["dwa", "weight_shape"] == pytest.approx(expected[0])
    # Uncertainty reports its log-variances; its weights are their softmax of -s.
    last = _epochs(experiment, by_strategy.loc["uncertainty", "trial_id"])[-1]
    s = np.array([last["log_variance_shape"], last["log_variance_family"]])
    assert last["weight_shape"] == pytest.approx(np.exp(-s[0]) / np.exp(-s).sum(), rel=1e-5)

    # summary.json counts the strategies on the front.
    on_front = summary["weightings_on_front"]
    assert set(on_front) <= set(STRATEGIES) and sum(on_front.values()) == summary["front_size"]

    # TensorBoard: each trial's run has its weight per epoch.
    run = experiment / "tensorboard" / f"trial_{by_strategy.loc['dwa', 'trial_id']}"
    events = EventAccumulator(str(run), size_guidance={"tensors": 0})
    events.Reload()
    curve = events.Tensors("shape/weight")
    assert [e.step for e in curve] == [1, 2, 3]
    assert float(tf.make_ndarray(curve[-1].tensor_proto)) == pytest.approx(expected[0], rel=1e-5)

    # Each strategy's exported model loads with Keras alone and predicts as the trained model.
    inputs = load().test.inputs[:16]
    np.save(tmp_path / "inputs.npy", inputs)
    exported, trained = {}, {}
    for strategy, trial_id in by_strategy["trial_id"].items():
        out = tmp_path / f"{strategy}.keras"
        export_model(experiment, trial_id=trial_id, out=out)
        exported[strategy] = str(out)
        checkpoint = latest_checkpoint(experiment, trial_id).path
        wrapped = checkpoint.parent / TRAINING_FILE
        assert wrapped.is_file() == (strategy != "static")
        model = load_checkpoint(checkpoint.parent)  # the wrapper needs tune_mtl to load
        assert isinstance(model, WeightedModel) == (strategy != "static")
        trained[strategy] = model.predict(inputs, verbose=0)
    (tmp_path / "keras_only.py").write_text(KERAS_ONLY)
    plain = subprocess.run(
        [sys.executable, str(tmp_path / "keras_only.py"), str(tmp_path / "inputs.npy"),
         str(tmp_path / "predicted.npz"), *exported.values()],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr[-3000:]
    predicted = np.load(tmp_path / "predicted.npz")
    for strategy, path in exported.items():
        for task in ("shape", "family"):
            np.testing.assert_allclose(
                predicted[f"{path}:{task}"], trained[strategy][task], rtol=1e-5, atol=1e-6
            )
