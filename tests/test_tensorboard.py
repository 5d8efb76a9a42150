"""Event files of a real search, read back with TensorBoard's own readers and served by its server;
and the writers on their own with three tasks, one of them a regression."""

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
from tune_mtl.cli import main
from tune_mtl.data import synthetic
from tune_mtl.objectives import Objectives
from tune_mtl.space import Distribution
from tune_mtl.tasks import Task
from tune_mtl.tensorboard_log import TrialWriter, write_experiment_config, write_trial_ends

TASKS = synthetic.TASKS  # shape and family, both classification: `<task>/val_accuracy`
# The default space's hyperparameters (search_spaces/default.yaml).
DEFAULT_PARAMS = {"gamma", "learning_rate", "branch_width", "shared_width", "dropout"}


def load_run(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def scalar_series(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    import tensorflow as tf

    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]


def session_status(run: EventAccumulator) -> str:
    content = run.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    end = hparams_metadata.parse_session_end_info_plugin_data(
        content[hparams_metadata.SESSION_END_INFO_TAG]
    )
    return api_pb2.Status.Name(end.status)


@pytest.mark.e2e
def test_every_trial_has_epoch_scalars_matching_trials_csv(synthetic_search) -> None:
    trials = pd.read_csv(synthetic_search.path / "trials.csv", dtype={"trial_id": str})
    pareto = pd.read_csv(synthetic_search.path / "pareto.csv", dtype={"trial_id": str})
    pareto = pareto.set_index("trial_id")
    summary = json.loads((synthetic_search.path / "summary.json").read_text())
    objectives = Objectives.from_dict(summary)
    board = synthetic_search.path / "tensorboard"
    for trial in trials.to_dict(orient="records"):
        run = load_run(board / f"trial_{trial['trial_id']}")
        tags = set(run.Tags()["tensors"])
        for task in TASKS:
            for name in ("train_accuracy", "val_accuracy", "train_loss", "val_loss"):
                assert f"{task.name}/{name}" in tags
        assert {"joint/train_loss", "joint/val_loss", "joint/val_score", "learning_rate",
                "epoch_seconds"} <= tags  # fmt: skip
        for task in TASKS:
            series = scalar_series(run, f"{task.name}/val_accuracy")
            assert [step for step, _ in series] == list(range(1, trial["epochs"] + 1))
            assert series[-1][1] == pytest.approx(trial[task.column("val")])
        # ASHA's scalar: the mean improvement over the summary's constant predictors.
        scores = scalar_series(run, "joint/val_score")
        assert len(scores) == trial["epochs"]
        assert scores[-1][1] == pytest.approx(objectives.score(trial), abs=1e-6)
        if trial["trial_id"] in pareto.index:
            for task in TASKS:
                ((_, test_accuracy),) = scalar_series(run, f"{task.name}/test_accuracy")
                expected = pareto.loc[trial["trial_id"], task.column("test")]
                assert test_accuracy == pytest.approx(expected)
        else:
            assert not {f"{task.name}/test_accuracy" for task in TASKS} & tags

        # The HParams session: every searched value, and the trial's status at its end.
        content = run.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
        start = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG]
        )
        assert DEFAULT_PARAMS <= set(start.hparams)
        assert start.hparams["gamma"].number_value == pytest.approx(trial["gamma"])
        assert start.hparams["branch_width"].number_value == trial["branch_width"]
        assert session_status(run) == "STATUS_SUCCESS"
        ((_, stopped_early),) = scalar_series(run, "stopped_early")
        assert stopped_early == float(trial["status"] == "stopped")

    search = load_run(board / "search")
    front_sizes = scalar_series(search, "search/front_size")
    assert [step for step, _ in front_sizes] == [1, 2, 3, 4]
    assert front_sizes[-1][1] == len(pareto)
    volumes = scalar_series(search, "search/val_hypervolume")
    assert volumes[-1] == (4, pytest.approx(summary["hypervolume_val"], abs=1e-6))


def test_three_tasks_with_a_regression_task_get_their_own_tags(tmp_path: Path) -> None:
    objectives = Objectives.for_tasks(
        (*TASKS, Task("size", kind="regression")), references=[0.25, 0.5, 2.0]
    )
    write_experiment_config(
        tmp_path,
        params={"gamma": Distribution("uniform", low=0.0, high=1.0)},
        constants={"batch_size": 32},
        objectives=objectives,
    )
    for trial_id, epochs in (("front", 2), ("other", 1)):
        writer = TrialWriter(tmp_path / f"trial_{trial_id}", objectives=objectives,
                             hparams={"gamma": 0.3, "batch_size": 32}, trial_id=trial_id,
                             new_session=True)  # fmt: skip
        for epoch in range(1, epochs + 1):
            writer.epoch(
                epoch,
                {"shape_accuracy": 0.5, "val_shape_accuracy": 0.4 + epoch / 10,
                 "val_family_accuracy": 0.7, "size_mae": 1.9, "val_size_mae": 2.0 - epoch / 4,
                 "val_size_loss": 5.0, "val_loss": 6.0, "val_score": 0.1 * epoch,
                 "not_a_metric": 9.0},
            )  # fmt: skip
        writer.close()
    trials = pd.DataFrame(
        {"trial_id": ["front", "other"], "status": ["completed", "stopped"], "epochs": [2, 1]}
    )
    front = pd.DataFrame({"trial_id": ["front"], "test_shape_accuracy": [0.55],
                          "test_family_accuracy": [0.75], "test_size_mae": [1.25]})  # fmt: skip
    write_trial_ends(tmp_path, trials, front, objectives=objectives)

    config = load_run(tmp_path).PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    experiment = hparams_metadata.parse_experiment_plugin_data(
        config[hparams_metadata.EXPERIMENT_TAG]
    )
    assert [m.name.tag for m in experiment.metric_infos] == [
        "shape/val_accuracy", "family/val_accuracy", "size/val_mae",
        "shape/test_accuracy", "family/test_accuracy", "size/test_mae",
        "epochs", "stopped_early",
    ]  # fmt: skip
    assert {h.name for h in experiment.hparam_infos} == {"gamma", "batch_size"}

    run = load_run(tmp_path / "trial_front")
    scalars = {tag for tag in run.Tags()["tensors"] if not tag.startswith("_hparams_/")}
    assert scalars == {
        "shape/train_accuracy", "shape/val_accuracy", "family/val_accuracy", "size/train_mae",
        "size/val_mae", "size/val_loss", "joint/val_loss", "joint/val_score",
        "size/test_mae", "shape/test_accuracy", "family/test_accuracy", "epochs", "stopped_early",
    }  # fmt: skip
    assert scalar_series(run, "size/val_mae") == [(1, 1.75), (2, 1.5)]
    assert scalar_series(run, "size/test_mae") == [(2, 1.25)]
    assert scalar_series(run, "stopped_early") == [(2, 0.0)]
    assert session_status(run) == "STATUS_SUCCESS"

    other = load_run(tmp_path / "trial_other")
    assert not any(tag.endswith(("/test_accuracy", "/test_mae")) for tag in other.Tags()["tensors"])
    assert scalar_series(other, "stopped_early") == [(1, 1.0)]
    assert session_status(other) == "STATUS_SUCCESS"


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


@pytest.mark.e2e
def test_tensorboard_command_serves_every_trial(synthetic_search) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tune_mtl.cli", "tensorboard", str(synthetic_search.path),
         "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        first_line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first_line
        base = f"http://127.0.0.1:{port}/data"
        trials = pd.read_csv(synthetic_search.path / "trials.csv", dtype={"trial_id": str})
        trial_ids = trials["trial_id"]
        deadline = time.monotonic() + 60
        while True:  # TensorBoard loads the event files in the background
            runs = fetch(f"{base}/runs")
            if all(f"trial_{t}" in runs for t in trial_ids):
                break
            assert time.monotonic() < deadline, runs
            time.sleep(1)
        # "." holds the HParams dashboard's description of the search (its domains, metrics).
        assert set(runs) == {".", "search", *(f"trial_{t}" for t in trial_ids)}
        run = f"trial_{trial_ids[0]}"
        tags = fetch(f"{base}/plugin/scalars/tags")
        assert "shape/val_accuracy" in tags[run]

        experiment = fetch(f"{base}/plugin/hparams/experiment", {"experimentName": ""})
        names = {h["name"] for h in experiment["hparamInfos"]}
        assert DEFAULT_PARAMS <= names
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert metrics == {
            "shape/val_accuracy", "family/val_accuracy", "shape/test_accuracy",
            "family/test_accuracy", "epochs", "stopped_early",
        }  # fmt: skip
        groups = fetch(
            f"{base}/plugin/hparams/session_groups",
            {"startIndex": 0, "sliceSize": 100, "aggregationType": "AGGREGATION_AVG",
             "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                 "STATUS_RUNNING"],
             "colParams": []},
        )  # fmt: skip
        sessions = {s["name"] for g in groups["sessionGroups"] for s in g["sessions"]}
        assert sessions == {f"trial_{t}" for t in trial_ids}
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    # Neither TensorBoard's advice on its own loader nor TensorFlow's words on the missing GPU.
    assert "NOTE: Using experimental" not in stderr and "cuda" not in stderr.lower(), stderr


def test_a_folder_without_event_files_is_refused(tmp_path: Path, capsys) -> None:
    assert main(["tensorboard", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path} has no tensorboard/ folder of event files; pass the folder of a "
        "search, e.g. results/NAME."
    ]


def test_a_port_in_use_or_a_host_not_of_this_machine_is_one_line(synthetic_search, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["tensorboard", str(synthetic_search.path), "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"error: TensorBoard cannot serve on 127.0.0.1:{port} (Address already in use); pass "
        "another --port.\n"
    )
    # 192.0.2.0/24 is for documentation (RFC 5737): no machine has an address there.
    assert main(["tensorboard", str(synthetic_search.path), "--host", "192.0.2.7"]) == 2
    assert capsys.readouterr().err == (
        "error: TensorBoard cannot serve on 192.0.2.7:6006 (Cannot assign requested address); "
        "pass an address of this machine as --host, e.g. 127.0.0.1 (this machine only) or "
        "0.0.0.0 (every interface).\n"
    )
