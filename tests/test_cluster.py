"""Searches on a real multi-node Ray cluster on loopback: every node used, the user's own model and
data (a file only the driver has) run on every node, GPU shares asked for, a lost worker node
survived, and a storage folder that a node cannot see refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import CLI, cli_env, run_cli
from tests.ray_cluster import RayCluster, start_cluster
from tune_mtl import cluster as cluster_module

pytestmark = pytest.mark.e2e

NODES = {"127.0.0.2", "127.0.0.3"}
LOST_EPOCHS = 80


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    """A head (1 CPU and 1 GPU as Ray counts them) and a worker node (1 CPU)."""
    cluster = start_cluster(head_cpus=1, head_gpus=1)
    try:
        cluster.add_worker("127.0.0.3")
        yield cluster
    finally:
        cluster.stop()


def synthetic_search(cluster: RayCluster, results: Path, name: str, *flags: str) -> list[str]:
    return [
        "search", "--address", cluster.address, "--data", "synthetic", "--scheduler", "none",
        "--results", str(results), "--name", name, *flags,
    ]  # fmt: skip


def test_a_search_through_address_runs_trials_on_every_node(
    cluster: RayCluster, tmp_path: Path
) -> None:
    # Trials long enough (about 20 s) that the worker node's first trial, slow to start, has
    # started before the head's first is done and the head could take the next.
    args = synthetic_search(cluster, tmp_path, "nodes", "--trials", "4", "--max-epochs", "80")
    done = run_cli(*args, cwd=tmp_path, env=cluster.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Connecting to Ray at {cluster.address}" in done.stdout
    trials = pd.read_csv(tmp_path / "nodes" / "trials.csv")
    assert (trials["status"] == "completed").all() and len(trials) == 4
    ids = cluster.node_ids()
    assert set(trials["node_id"]) == set(ids.values())
    assert set(trials["node_ip"]) == NODES
    assert all(
        ids[ip] == node for ip, node in zip(trials["node_ip"], trials["node_id"], strict=True)
    )
    for column in ("val_shape_accuracy", "val_family_accuracy"):
        assert trials[column].between(0, 1).all()
    summary = json.loads((tmp_path / "nodes" / "summary.json").read_text())
    assert [task["name"] for task in summary["tasks"]] == ["shape", "family"]
    assert summary["status_counts"] == {"completed": 4}
    assert summary["data"] == "synthetic" and summary["options"]["trials"] == 4


def test_a_search_through_ray_client_writes_its_results(
    cluster: RayCluster, tmp_path: Path
) -> None:
    args = synthetic_search(cluster, tmp_path, "client", "--trials", "2", "--max-epochs", "2")
    args[args.index(cluster.address)] = cluster.client_address
    done = run_cli(*args, cwd=tmp_path, env=cluster.env)
    assert done.returncode == 0, done.stderr[-3000:] + cluster.client_server_logs()
    trials = pd.read_csv(tmp_path / "client" / "trials.csv", keep_default_na=False)
    assert trials["status"].tolist() == ["completed", "completed"]
    assert trials["error"].tolist() == ["", ""]
    assert set(trials["node_ip"]) <= NODES
    summary = json.loads((tmp_path / "client" / "summary.json").read_text())
    assert summary["status_counts"] == {"completed": 2}
    assert len(pd.read_csv(tmp_path / "client" / "pareto.csv")) >= 1


# The user's own problem, in files that only the driver has: two classification tasks and a
# regression task that a small dense network learns in a few epochs.
USER_LOADER = """
import numpy as np
import tune_mtl


def load():
    features = np.random.default_rng(7).normal(size=(500, 6)).astype("float32")
    labels = {
        "side": (features[:, 0] > 0).astype(int),
        "band": np.digitize(features[:, 1], [-0.43, 0.43]),
        "size": 2 * features[:, 2] - features[:, 3],
    }
    tasks = [
        tune_mtl.Task("side", classes=("left", "right")),
        tune_mtl.Task("band", classes=("low", "middle", "high")),
        tune_mtl.Task("size", kind="regression"),
    ]
    return tune_mtl.Dataset.from_arrays(
        train=(features[:400], {name: y[:400] for name, y in labels.items()}),
        test=(features[400:], {name: y[400:] for name, y in labels.items()}),
        tasks=tasks,
        name="mine",
    )
"""
USER_BUILDER = """
import time
from pathlib import Path

import keras
import ray

MEETING = Path("MEETING_FOLDER")
NODES = MEETING_NODES


def meet_the_other_nodes():
    \"\"\"In a trial, waits (up to 120 s) until a trial has started on each of NODES nodes: a node
    whose first trial is slow to start still gets one.\"\"\"
    if not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
        return  # the driver, not a trial
    context = ray.get_runtime_context()
    MEETING.mkdir(exist_ok=True)
    (MEETING / context.get_node_id()).touch()
    deadline = time.monotonic() + 120
    while len(list(MEETING.iterdir())) < NODES and time.monotonic() < deadline:
        time.sleep(0.1)


def build(hp, tasks):
    meet_the_other_nodes()
    inputs = keras.Input(shape=(6,))
    hidden = keras.layers.Dense(hp["width"], activation="relu")(inputs)
    outputs = {
        task.name: keras.layers.Dense(
            task.units, activation="softmax" if task.kind == "classification" else None,
            name=task.name,
        )(hidden)
        for task in tasks
    }
    return keras.Model(inputs, outputs)
"""
USER_SPACE = """
batch_size: 32
loss_weights: {type: simplex}
params:
  learning_rate: {type: loguniform, low: 3.0e-3, high: 3.0e-2}
  width: {type: int, low: 16, high: 64}
"""


@pytest.fixture
def user_code(tmp_path: Path) -> dict[str, Path]:
    return write_user_code(tmp_path, nodes=len(NODES))


def write_user_code(tmp_path: Path, *, nodes: int) -> dict[str, Path]:
    """models.py (builder and loader; its trials meet on ``nodes`` nodes) in one folder, arrays.py
    (the same loader) in another, the space file, and an empty folder to run the CLI from: none
    of them on a worker's path."""
    code = tmp_path / "mycode"
    code.mkdir()
    builder = USER_BUILDER.replace("MEETING_FOLDER", str(tmp_path / "meeting"))
    (code / "models.py").write_text(builder.replace("MEETING_NODES", str(nodes)) + USER_LOADER)
    data = tmp_path / "mydata"
    data.mkdir()
    (data / "arrays.py").write_text(USER_LOADER)
    (tmp_path / "space.yaml").write_text(USER_SPACE)
    (tmp_path / "elsewhere").mkdir()
    return {
        "models": code / "models.py",
        "arrays": data / "arrays.py",
        "space": tmp_path / "space.yaml",
        "cwd": tmp_path / "elsewhere",
    }


def user_search_args(
    cluster: RayCluster, user: dict[str, Path], name: str, *flags: str, trials: int, epochs: int
) -> list[str]:
    """The CLI's arguments for a search of the user's builder on the cluster, without early
    stopping; its results go to ``user["cwd"].parent / "results" / name``."""
    return [
        "search", "--address", cluster.address, "--model", f"{user['models']}:build",
        "--space", str(user["space"]), "--trials", str(trials), "--max-epochs", str(epochs),
        "--scheduler", "none", "--results", str(user["cwd"].parent / "results"), "--name", name,
        *flags,
    ]  # fmt: skip


def user_search(cluster: RayCluster, user: dict[str, Path], name: str, *flags: str) -> pd.DataFrame:
    """Runs the CLI on the user's code with 4 trials and returns trials.csv, checked as complete
    and spread over both nodes (the builder's trials wait for each other: a node that finished
    its first trial before the other node had set up the shipped code would take the next one
    itself and leave the other idle)."""
    args = user_search_args(cluster, user, name, *flags, trials=4, epochs=30)
    done = run_cli(*args, cwd=user["cwd"], env=cluster.env)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_csv(user["cwd"].parent / "results" / name / "trials.csv")
    assert len(trials) == 4
    assert (trials["status"] == "completed").all(), trials["error"].tolist()
    assert (trials["failures"] == 0).all()
    assert set(trials["node_ip"]) == NODES
    return trials


def test_shipping_is_what_lets_a_worker_import_the_users_files(
    cluster: RayCluster, user_code: dict[str, Path]
) -> None:
    """Not vacuous: from the CLI's folder, no node can import the user's files unless shipped."""
    for module in ("models", "arrays"):
        bare = cluster.import_everywhere(module, cwd=user_code["cwd"])
        assert bare == dict.fromkeys(NODES)
    shipped = cluster.import_everywhere(
        "models", cwd=user_code["cwd"], py_modules=[str(user_code["models"])]
    )
    assert set(shipped) == NODES
    for found in shipped.values():
        assert found is not None and found != str(user_code["models"])
        assert Path(found).read_text() == user_code["models"].read_text()


def test_without_shipping_the_same_search_fails_in_every_trial(
    cluster: RayCluster, user_code: dict[str, Path]
) -> None:
    """The control for the searches below: with `connect` told to ship nothing, no trial can
    import the builder."""
    models, results = user_code["models"], user_code["cwd"].parent / "results"
    script = (
        "import tune_mtl.search as search\n"
        "from tune_mtl.cluster import connect\n"
        "search.connect = lambda address, *, ship=(): connect(address)\n"
        f"search.search(address={cluster.address!r}, model='{models}:build', "
        f"data='{models}:load', space={str(user_code['space'])!r}, trials=2, max_epochs=1, "
        f"scheduler='none', results={str(results)!r}, name='unshipped', max_failures=0, "
        "live=False)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=user_code["cwd"], env=cli_env(cluster.env),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_csv(results / "unshipped" / "trials.csv")
    assert len(trials) == 2 and (trials["status"] == "failed").all()
    assert (trials["error"] == "ModuleNotFoundError: No module named 'models'").all()


def test_connect_ships_the_users_files_to_every_worker(
    cluster: RayCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cluster_module.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(cluster_module.ray, "init", lambda **kwargs: calls.append(kwargs))
    ship = ("/home/me/mycode/models.py", "/home/me/mydata")
    cluster_module.connect(cluster.address, ship=ship)
    cluster_module.connect(cluster.address)
    assert calls[0]["runtime_env"]["py_modules"] == list(ship)
    assert "py_modules" not in calls[1]["runtime_env"]


def test_the_users_model_and_data_from_files_only_the_driver_has_run_on_every_node(
    cluster: RayCluster, user_code: dict[str, Path]
) -> None:
    models = user_code["models"]
    trials = user_search(cluster, user_code, "mine", "--data", f"{models}:load")
    summary = json.loads(
        (user_code["cwd"].parent / "results" / "mine" / "summary.json").read_text()
    )
    assert summary["model"] == f"{models}:build" and summary["data"] == f"{models}:load"
    tasks = {task["name"]: task for task in summary["tasks"]}
    assert {name: task["kind"] for name, task in tasks.items()} == {
        "side": "classification", "band": "classification", "size": "regression",
    }  # fmt: skip
    assert summary["objectives"] == ["side", "band", "size"]
    assert summary["status_counts"] == {"completed": 4}
    weights = trials[["weight_side", "weight_band", "weight_size"]].to_numpy()
    assert np.allclose(weights.sum(axis=1), 1)
    # Every node's trials learned each task: better than its constant predictor.
    for ip, on_node in trials.groupby("node_ip"):
        assert on_node["val_side_accuracy"].max() > tasks["side"]["reference"] + 0.15, ip
        assert on_node["val_band_accuracy"].max() > tasks["band"]["reference"] + 0.15, ip
        assert on_node["val_size_mae"].min() < tasks["size"]["reference"] * 0.7, ip


def test_a_loader_that_trials_call_is_shipped_to_every_node_too(
    cluster: RayCluster, user_code: dict[str, Path]
) -> None:
    arrays = user_code["arrays"]
    trials = user_search(
        cluster, user_code, "in-trials", "--data", f"{arrays}:load", "--load-in-trials"
    )
    summary = json.loads(
        (user_code["cwd"].parent / "results" / "in-trials" / "summary.json").read_text()
    )
    assert summary["data"] == f"{arrays}:load" and summary["options"]["load_in_trials"] is True
    assert trials["val_side_accuracy"].between(0, 1).all()


@pytest.mark.slow
def test_each_trial_asks_ray_for_the_resources_given(cluster: RayCluster, tmp_path: Path) -> None:
    args = synthetic_search(
        cluster, tmp_path, "gpus", "--trials", "4", "--max-epochs", "1",
        "--cpus-per-trial", "0.25", "--gpus-per-trial", "0.25",
    )  # fmt: skip
    done = run_cli(*args, cwd=tmp_path, env=cluster.env)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "gpus" / "trials.csv")
    assert len(trials) == 4
    assert (trials["cpus"] == 0.25).all() and (trials["gpus"] == 0.25).all()
    assert (trials["node_ip"] == "127.0.0.2").all()  # the only node with a GPU


def _results(result_file: Path) -> list[dict[str, Any]]:
    """The results a trial has written in full (not a line still being written)."""
    text = result_file.read_text() if result_file.exists() else ""
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def _iterations(result_file: Path) -> list[int]:
    return [result["training_iteration"] for result in _results(result_file)]


def test_trials_of_a_lost_worker_node_resume_from_their_checkpoints(
    cluster: RayCluster, tmp_path: Path
) -> None:
    cluster.add_worker("127.0.0.4")
    doomed = cluster.node_ids()["127.0.0.4"]
    # Three trials that meet on the three nodes, each long enough to be killed midway.
    user = write_user_code(tmp_path, nodes=3)
    epochs = LOST_EPOCHS
    args = user_search_args(
        cluster, user, "lost", "--data", f"{user['models']}:load", trials=3, epochs=epochs
    )
    search = subprocess.Popen(
        [*CLI, *args], cwd=user["cwd"], env=cli_env(cluster.env), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    experiment = user["cwd"].parent / "results" / "lost"
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and search.poll() is None:
        for result_file in experiment.glob("trial_*/result.json"):
            written = _results(result_file)
            if len(written) >= 2 and written[-1]["node_id"] == doomed:
                victim = result_file.parent.name.removeprefix("trial_")
                break
        time.sleep(0.05)
    assert victim is not None, "no trial ran on the worker node that was to be lost"
    cluster.kill_worker("127.0.0.4")
    stdout, stderr = search.communicate(timeout=600)
    assert search.returncode == 0, stderr[-3000:]

    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str}).set_index("trial_id")
    assert len(trials) == 3 and (trials["status"] == "completed").all()
    assert trials.loc[victim, "failures"] >= 1
    assert trials.loc[victim, "node_ip"] in {"127.0.0.2", "127.0.0.3"}
    # The restarted trial went on from its last checkpoint: every epoch reported, in order, and
    # at most the one ending as the node died once more (Ray had taken its result, not yet its
    # checkpoint).
    reported = _iterations(experiment / f"trial_{victim}" / "result.json")
    assert sorted(set(reported)) == list(range(1, epochs + 1)) and reported == sorted(reported)
    assert len(reported) <= epochs + 1, reported


def test_a_storage_folder_that_a_node_cannot_see_is_refused(
    cluster: RayCluster, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    # The worker gets its own, empty folder at the same path: a disk only it can see.
    hide = f'mount -t tmpfs tmpfs {results} && exec "$@"'
    try:
        cluster.add_worker(
            "127.0.0.5", prefix=["unshare", "--mount", "--propagation", "private",
                                 "sh", "-c", hide, "sh"],
        )  # fmt: skip
    except RuntimeError as error:
        if "mount" in str(error) or "unshare" in str(error):
            pytest.skip(f"this machine cannot make a private mount namespace: {error}")
        raise
    try:
        args = synthetic_search(cluster, results, "blind", "--trials", "2", "--max-epochs", "1")
        done = run_cli(*args, cwd=tmp_path, env=cluster.env)
    finally:
        cluster.kill_worker("127.0.0.5")
    assert done.returncode == 2
    message = done.stderr.strip().splitlines()[-1]
    assert "127.0.0.5" in message and "--storage-path" in message and "s3://" in message
    assert list(results.iterdir()) == []
