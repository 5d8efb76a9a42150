"""A search that keeps its Ray experiment on an S3-protocol server (moto) on loopback, read back
through pyarrow; and storage paths that cannot work, refused before anything is written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.fs
import pytest

from tests.conftest import run_cli
from tune_mtl.cli import main
from tune_mtl.data import synthetic

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "tune-mtl-test",
    "AWS_SECRET_ACCESS_KEY": "tune-mtl-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, holding one bucket, `tune-mtl`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"127.0.0.1:{port}"
    try:
        creator = _filesystem(endpoint, allow_bucket_creation=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                creator.create_dir("tune-mtl")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


def _filesystem(endpoint: str, *, allow_bucket_creation: bool = False) -> pyarrow.fs.S3FileSystem:
    return pyarrow.fs.S3FileSystem(
        allow_bucket_creation=allow_bucket_creation,
        endpoint_override=endpoint,
        scheme="http",
        access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region=CREDENTIALS["AWS_DEFAULT_REGION"],
    )


def _search(tmp_path: Path, storage: str, name: str) -> subprocess.CompletedProcess:
    return run_cli(
        "search", "--data", "synthetic", "--trials", "3", "--max-epochs", "2",
        "--scheduler", "none", "--results", str(tmp_path), "--name", name,
        "--storage-path", storage,
        cwd=tmp_path, env={**os.environ, **CREDENTIALS},
    )  # fmt: skip


@pytest.mark.slow
def test_the_experiment_is_stored_on_s3_and_reads_back(s3_endpoint: str, tmp_path: Path) -> None:
    storage = f"s3://tune-mtl/searches?endpoint_override={s3_endpoint}&scheme=http"
    done = _search(tmp_path, storage, "on-s3")
    assert done.returncode == 0, done.stderr[-3000:]

    trials = pd.read_csv(tmp_path / "on-s3" / "trials.csv")
    summary = json.loads((tmp_path / "on-s3" / "summary.json").read_text())
    assert summary["experiment_path"] == "s3://tune-mtl/searches/on-s3"
    assert not list((tmp_path / "on-s3").glob("trial_*"))  # Ray's files went to the bucket
    filesystem = _filesystem(s3_endpoint)
    root = "tune-mtl/searches/on-s3"
    stored = {info.base_name for info in filesystem.get_file_info(pyarrow.fs.FileSelector(root))}
    assert any(name.startswith("experiment_state") for name in stored)
    assert {f"trial_{trial_id}" for trial_id in trials["trial_id"]} <= stored
    # The driver's files too, so that the bucket holds the whole search.
    assert {"trials.csv", "pareto.csv", "summary.json", "search.json", "optuna.journal"} <= stored
    with filesystem.open_input_stream(f"{root}/trials.csv") as stream:
        assert stream.read() == (tmp_path / "on-s3" / "trials.csv").read_bytes()
    for trial in trials.itertuples():
        folder = f"{root}/trial_{trial.trial_id}"
        with filesystem.open_input_stream(f"{folder}/result.json") as stream:
            last = json.loads(stream.read().decode().splitlines()[-1])
        assert last["training_iteration"] == trial.epochs == 2
        for task in synthetic.TASKS:  # val_shape_accuracy, val_family_accuracy
            column = task.column("val")
            assert last[column] == pytest.approx(getattr(trial, column))
        files = filesystem.get_file_info(pyarrow.fs.FileSelector(folder, recursive=True))
        assert any(info.path.endswith("/model.keras") for info in files)


@pytest.mark.e2e
def test_a_storage_folder_holds_the_whole_search_and_commands_work_on_it(
    tmp_path: Path, capsys
) -> None:
    """Ray writes the checkpoints to --storage-path and the driver its tables to --results; at
    the end the tables join the checkpoints, so the storage folder is a search's folder."""
    done = _search(tmp_path, str(tmp_path / "store"), "kept")
    assert done.returncode == 0, done.stderr[-3000:]
    stored = tmp_path / "store" / "kept"
    assert f"Copied the results to {stored}, beside the checkpoints" in done.stdout
    for name in ("trials.csv", "pareto.csv", "summary.json", "search.json", "optuna.journal"):
        assert (stored / name).read_bytes() == (tmp_path / "kept" / name).read_bytes(), name
    assert (stored / "tensorboard").is_dir()
    out = tmp_path / "knee.keras"
    assert main(["export", str(stored), "--knee", "--out", str(out)]) == 0, capsys.readouterr()
    assert out.read_bytes()[:2] == b"PK"  # a .keras file is a zip archive


def test_a_missing_bucket_is_refused_before_anything_is_written(
    s3_endpoint: str, tmp_path: Path
) -> None:
    storage = f"s3://no-such-bucket/x?endpoint_override={s3_endpoint}&scheme=http"
    done = _search(tmp_path, storage, "nowhere")
    assert done.returncode == 2
    assert "the bucket 'no-such-bucket' does not exist; create it first." in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_storage_uri_pyarrow_cannot_open_is_refused(tmp_path: Path) -> None:
    done = _search(tmp_path, "nosuchscheme://bucket/x", "bad")
    assert done.returncode == 2
    assert "--storage-path 'nosuchscheme://bucket/x' is not a location pyarrow can open" in (
        done.stderr
    )
