"""Event files of a real search, read back with TensorBoard's own readers and served by its server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

TASKS = ("shape", "family")


def load_run(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def scalar_series(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    import tensorflow as tf

    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]


def test_every_trial_has_epoch_scalars_matching_trials_csv(synthetic_search) -> None:
    trials = pd.read_csv(synthetic_search.path / "trials.csv")
    pareto = pd.read_csv(synthetic_search.path / "pareto.csv").set_index("trial_id")
    board = synthetic_search.path / "tensorboard"
    for trial in trials.itertuples():
        run = load_run(board / f"trial_{trial.trial_id}")
        tags = set(run.Tags()["tensors"])
        for task in TASKS:
            for name in ("train_accuracy", "val_accuracy", "train_loss", "val_loss"):
                assert f"{task}/{name}" in tags
        assert {"joint/train_loss", "joint/val_loss", "learning_rate", "epoch_seconds"} <= tags
        for index, task in enumerate(TASKS, start=1):
            series = scalar_series(run, f"{task}/val_accuracy")
            assert [step for step, _ in series] == list(range(1, trial.epochs + 1))
            assert series[-1][1] == pytest.approx(getattr(trial, f"val_task{index}_accuracy"))
        if trial.trial_id in pareto.index:
            for index, task in enumerate(TASKS, start=1):
                ((_, test_accuracy),) = scalar_series(run, f"{task}/test_accuracy")
                expected = pareto.loc[trial.trial_id, f"test_task{index}_accuracy"]
                assert test_accuracy == pytest.approx(expected)

        # The HParams session: every searched value, and the trial's status at its end.
        content = run.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
        start = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG]
        )
        assert start.hparams["gamma"].number_value == pytest.approx(trial.gamma)
        assert start.hparams["task1_width"].number_value == trial.task1_width
        end = hparams_metadata.parse_session_end_info_plugin_data(
            content[hparams_metadata.SESSION_END_INFO_TAG]
        )
        assert api_pb2.Status.Name(end.status) == "STATUS_SUCCESS"
        ((_, stopped_early),) = scalar_series(run, "stopped_early")
        assert stopped_early == float(trial.status == "stopped")

    search = load_run(board / "search")
    front_sizes = scalar_series(search, "search/front_size")
    assert [step for step, _ in front_sizes] == [1, 2, 3, 4]
    assert front_sizes[-1][1] == len(pareto)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, body: dict | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"X-XSRF-Protected": "1"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_tensorboard_command_serves_every_trial(synthetic_search) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tune_mtl.cli", "tensorboard", str(synthetic_search.path),
         "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        first_line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first_line
        base = f"http://127.0.0.1:{port}/data"
        trial_ids = pd.read_csv(synthetic_search.path / "trials.csv")["trial_id"]
        deadline = time.monotonic() + 60
        while True:  # TensorBoard loads the event files in the background
            runs = fetch(f"{base}/runs")
            if all(f"tensorboard/trial_{t}" in runs for t in trial_ids):
                break
            assert time.monotonic() < deadline, runs
            time.sleep(1)
        run = f"tensorboard/trial_{trial_ids[0]}"
        tags = fetch(f"{base}/plugin/scalars/tags")
        assert "shape/val_accuracy" in tags[run]

        experiment = fetch(f"{base}/plugin/hparams/experiment", {"experimentName": ""})
        names = {h["name"] for h in experiment["hparamInfos"]}
        assert {"gamma", "learning_rate", "task1_width", "task2_width", "dropout"} <= names
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert {"shape/val_accuracy", "family/test_accuracy"} <= metrics
        groups = fetch(
            f"{base}/plugin/hparams/session_groups",
            {"startIndex": 0, "sliceSize": 100, "aggregationType": "AGGREGATION_AVG",
             "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                 "STATUS_RUNNING"],
             "colParams": []},
        )  # fmt: skip
        sessions = {s["name"] for g in groups["sessionGroups"] for s in g["sessions"]}
        assert sessions == {f"tensorboard/trial_{t}" for t in trial_ids}
    finally:
        server.terminate()
        server.wait(timeout=30)
