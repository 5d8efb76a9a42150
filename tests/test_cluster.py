"""Searches on a real multi-node Ray cluster on loopback: every node used, GPU shares asked for,
a lost worker node survived, and a storage folder that a node cannot see refused."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import CLI, cli_env, run_cli
from tests.ray_cluster import RayCluster, start_cluster


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
        "search", "--address", cluster.address, "--dataset", "synthetic", "--scheduler", "none",
        "--results", str(results), "--name", name, *flags,
    ]  # fmt: skip


def test_a_search_through_address_runs_trials_on_every_node(
    cluster: RayCluster, tmp_path: Path
) -> None:
    args = synthetic_search(cluster, tmp_path, "nodes", "--trials", "4", "--max-epochs", "20")
    done = run_cli(*args, cwd=tmp_path, env=cluster.env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Connecting to Ray at {cluster.address}" in done.stdout
    trials = pd.read_csv(tmp_path / "nodes" / "trials.csv")
    assert (trials["status"] == "completed").all() and len(trials) == 4
    ids = cluster.node_ids()
    assert set(trials["node_id"]) == set(ids.values())
    assert set(trials["node_ip"]) == {"127.0.0.2", "127.0.0.3"}
    assert all(
        ids[ip] == node for ip, node in zip(trials["node_ip"], trials["node_id"], strict=True)
    )


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


def _iterations(result_file: Path) -> list[int]:
    lines = result_file.read_text().splitlines() if result_file.exists() else []
    return [json.loads(line)["training_iteration"] for line in lines]


def _node_of(result_file: Path) -> str:
    return str(json.loads(result_file.read_text().splitlines()[-1])["node_id"])


def test_trials_of_a_lost_worker_node_resume_from_their_checkpoints(
    cluster: RayCluster, tmp_path: Path
) -> None:
    cluster.add_worker("127.0.0.4")
    doomed = cluster.node_ids()["127.0.0.4"]
    epochs = 40
    args = synthetic_search(cluster, tmp_path, "lost", "--trials", "3", "--max-epochs", str(epochs))
    search = subprocess.Popen(
        [*CLI, *args], cwd=tmp_path, env=cli_env(cluster.env), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    experiment = tmp_path / "lost"
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and search.poll() is None:
        for result_file in experiment.glob("trial_*/result.json"):
            if len(_iterations(result_file)) >= 2 and _node_of(result_file) == doomed:
                victim = result_file.parent.name.removeprefix("trial_")
                break
        time.sleep(0.05)
    assert victim is not None, "no trial ran on the worker node that was to be lost"
    cluster.kill_worker("127.0.0.4")
    stdout, stderr = search.communicate(timeout=600)
    assert search.returncode == 0, stderr[-3000:]

    trials = pd.read_csv(experiment / "trials.csv").set_index("trial_id")
    assert len(trials) == 3 and (trials["status"] == "completed").all()
    assert trials.loc[victim, "failures"] >= 1
    assert trials.loc[victim, "node_ip"] in {"127.0.0.2", "127.0.0.3"}
    # The restarted trial went on from its last checkpoint: no epoch was run twice.
    assert _iterations(experiment / f"trial_{victim}" / "result.json") == list(range(1, epochs + 1))


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
