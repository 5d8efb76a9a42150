"""Where a search runs and where Ray keeps it: the Ray cluster, and a storage path every node sees.

With no address, Ray starts on this machine, bound to loopback, without its dashboard. With one
(``--address`` or ``RAY_ADDRESS``), trials run on that cluster. Ray's experiment (checkpoints,
trial results, its own state) goes to the storage path: a folder or a pyarrow URI such as
``s3://bucket/prefix?endpoint_override=HOST:PORT&scheme=http``.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from tune_mtl.errors import TuneMtlError
from tune_mtl.library_logs import START_WORDS, dropping
from tune_mtl.text import error_line

__all__ = ["LOOPBACK_NODE_IP", "Storage", "connect", "resolve_storage", "check_storage_shared"]

LOOPBACK_NODE_IP = "127.0.0.2"  # Ray rewrites 127.0.0.1 to the machine's address, not this one.
_WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
PROBE_SECONDS = 5.0  # how long an address may take to accept a connection before it is refused
CLIENT_TRIES = 2  # attempts to start a session with Ray Client's server


def connect(address: str | None = None, *, ship: tuple[str, ...] = ()) -> None:
    """Connects to the Ray cluster at ``address`` (or ``RAY_ADDRESS``), else starts a local one.

    ``ship`` lists the user's modules (a .py file or a package's folder) that Ray uploads to every
    worker as ``py_modules``, so that trials can import the user's builder there. Ray already
    initialised by the caller keeps its own runtime environment; it is used only when ``address``
    is None or names the cluster it is connected to.
    """
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address is not None and address != "auto" and address.split("://")[-1] != current:
            raise TuneMtlError(
                f"Ray is already connected to {current} in this process, so --address {address!r} "
                "cannot be used; call ray.shutdown() first, or drop the address to search on "
                f"{current}."
            )
        return
    address = address or os.environ.get("RAY_ADDRESS")
    runtime_env: dict[str, object] = {"env_vars": _WORKER_ENV}
    if ship:
        runtime_env["py_modules"] = list(ship)
    if address:
        _check_reachable(address)
        _join(address, runtime_env)
        return
    node_ip = LOOPBACK_NODE_IP if sys.platform.startswith("linux") else "127.0.0.1"
    # "local" starts a new instance even where `ray start` left a cluster running.
    with dropping(START_WORDS):
        ray.init(
            address="local",
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address=node_ip,
            runtime_env=runtime_env,
        )


def _join(address: str, runtime_env: dict[str, object]) -> None:
    """Connects to the cluster at ``address``. Ray Client's server (``ray://``) starts a process
    for each client, which at times fails to come up; that is tried once more."""
    for tries_left in reversed(range(CLIENT_TRIES)):
        try:
            with dropping(START_WORDS):
                ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
            return
        except (ConnectionError, ValueError) as error:
            if isinstance(error, ConnectionAbortedError) and tries_left:
                continue  # "Initialization failure from server"
            raise TuneMtlError(
                f"cannot connect to the Ray cluster at --address {address!r} ({_reason(error)}); "
                "start one with `ray start --head`, or pass the address `ray status` shows."
            ) from error


def _reason(error: Exception) -> str:
    """Ray's refusal in one line: its first line, and the last where it goes on (Ray Client's
    server sends its traceback, which ends with the exception)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]} {error_line(lines[-1])}"


def _check_reachable(address: str) -> None:
    """``address`` is ``HOST:PORT`` or ``ray://HOST:PORT`` and something accepts connections
    there: Ray itself retries a wrong port or host for ever."""
    if address.startswith(("http://", "https://")):
        raise TuneMtlError(
            f"--address {address!r} is a web address (Ray's dashboard or job API); pass the "
            "cluster's address as HOST:6379, or Ray Client's as ray://HOST:10001."
        )
    host, _, port = address.split("://")[-1].rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return  # Ray finds the cluster itself, or refuses the address in its own words
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise TuneMtlError(
            f"nothing answers at --address {address!r} ({reason}); start the cluster with "
            "`ray start --head`, or pass the address `ray status` shows on its head node."
        ) from error


@dataclass(frozen=True)
class Storage:
    """Ray's storage for experiments: ``root`` inside ``filesystem`` (None: the local disk)."""

    given: str
    root: str
    filesystem: pyarrow.fs.FileSystem | None = None

    def experiment_path(self, name: str) -> str:
        """The experiment's path inside ``filesystem``, as Ray takes it."""
        return f"{self.root.rstrip('/')}/{name}"

    def location(self, name: str) -> str:
        """The experiment's place as a user writes it: a folder, or the URI without its query."""
        base = self.given.split("?")[0] if self.filesystem is not None else self.root
        return f"{base.rstrip('/')}/{name}"

    def add_files(self, folder: Path, name: str) -> bool:
        """Copies the files of ``folder`` (a search's tables, study and event files, which the
        driver writes) beside Ray's in experiment ``name``, so that the stored experiment holds
        the whole search; returns False where ``folder`` is that place already."""
        destination = self.experiment_path(name)
        if self.filesystem is None and Path(destination).resolve() == folder.resolve():
            return False
        pyarrow.fs.copy_files(
            str(folder.resolve()),
            destination,
            source_filesystem=pyarrow.fs.LocalFileSystem(),
            destination_filesystem=self.filesystem or pyarrow.fs.LocalFileSystem(),
        )
        return True


def resolve_storage(storage_path: str | None, *, default: Path) -> Storage:
    """Turns ``--storage-path`` (a folder or a pyarrow URI) into a filesystem and a root."""
    if storage_path is None:
        return Storage(str(default), str(default.resolve()))
    if "://" not in storage_path:
        return Storage(storage_path, str(Path(storage_path).resolve()))
    try:
        filesystem, root = pyarrow.fs.FileSystem.from_uri(storage_path)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError, OSError) as error:
        raise TuneMtlError(
            f"--storage-path {storage_path!r} is not a location pyarrow can open ({error}); pass a "
            "folder, s3://bucket/prefix or gs://bucket/prefix."
        ) from error
    bucket = root.split("/", 1)[0]
    try:
        found = filesystem.get_file_info(bucket).type != pyarrow.fs.FileType.NotFound
    except OSError as error:
        raise TuneMtlError(
            f"--storage-path {storage_path!r} cannot be reached ({error}); check the endpoint "
            "and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."
        ) from error
    if not found:
        raise TuneMtlError(
            f"--storage-path {storage_path!r}: the bucket {bucket!r} does not exist; create it "
            "first."
        )
    return Storage(storage_path, root, filesystem)


@ray.remote(num_cpus=0)
def _sees(path: str) -> bool:
    return os.path.exists(path)


def check_storage_shared(storage: Storage) -> None:
    """Refuses a folder that some node of the cluster cannot see, before any trial runs.

    Trials write checkpoints to the storage path from whichever node runs them, and a trial
    restarted on another node reads them back, so every node must see the same folder.
    """
    if storage.filesystem is not None:
        return
    nodes = [node for node in ray.nodes() if node["Alive"]]
    if len(nodes) < 2:
        return
    root = Path(storage.root)
    root.mkdir(parents=True, exist_ok=True)
    probe = root / f".tune-mtl-probe-{uuid.uuid4().hex}"
    probe.touch()
    try:
        seen = ray.get(
            [
                _sees.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                ).remote(str(probe))
                for node in nodes
            ],
            timeout=120,
        )
    finally:
        probe.unlink()
    blind = [node["NodeManagerAddress"] for node, sees in zip(nodes, seen, strict=True) if not sees]
    if blind:
        raise TuneMtlError(
            f"--storage-path {storage.given} is a folder that the Ray node(s) at "
            f"{', '.join(blind)} cannot see, so their checkpoints would be lost; pass a folder "
            "that every node mounts (NFS) or a bucket URI such as s3://bucket/tune-mtl."
        )
