"""A real multi-node Ray cluster on loopback, started the way users start one (`ray start`).

Each node has its own loopback address (Ray rewrites 127.0.0.1, not the others), so the nodes are
told apart as on separate machines. Processes are found and stopped through /proc, one cluster
(or one node) at a time, leaving any other Ray on the machine alone.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
HEAD_IP = "127.0.0.2"
TOKEN_PATH = "RAY_AUTH_TOKEN_PATH"


# Ports a Ray node takes by default for its own components (the dashboard agent's 52365 lies in
# Linux's ephemeral range, from which free ports are drawn).
RAY_DEFAULT_PORTS = {6379, 8265, 10001, 52365}


def free_port() -> int:
    """A port free on the head's address now, and not one that Ray's components use by default."""
    while True:
        with socket.socket() as probe:
            probe.bind((HEAD_IP, 0))
            port = int(probe.getsockname()[1])
        if port not in RAY_DEFAULT_PORTS:
            return port


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        table[int(entry.name)] = (parent, command)
    return table


def _with_descendants(roots: set[int], table: dict[int, tuple[int, str]]) -> set[int]:
    found = set(roots)
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in table.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return found


def _kill(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class RayCluster:
    """A head node at 127.0.0.2 and worker nodes at further loopback addresses."""

    port: int
    env: dict[str, str]
    client_port: int = 0
    workers: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{HEAD_IP}:{self.port}"

    @property
    def client_address(self) -> str:
        """Ray Client's server on the head, as `--address ray://HOST:PORT` names it."""
        return f"ray://{HEAD_IP}:{self.client_port}"

    def _start(self, args: Sequence[str], prefix: Sequence[str] = ()) -> None:
        done = subprocess.run(
            [*prefix, RAY, "start", *args, "--disable-usage-stats"],
            env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{done.stderr[-3000:]}")

    def add_worker(self, ip: str, *, num_cpus: int = 1, prefix: Sequence[str] = ()) -> None:
        """Starts a worker node; ``prefix`` wraps `ray start` (e.g. in another mount namespace)."""
        self._start(
            [f"--address={self.address}", f"--node-ip-address={ip}", f"--num-cpus={num_cpus}"],
            prefix,
        )
        self.workers.append(ip)

    def _node_pids(self, ip: str | None) -> set[int]:
        table = _processes()
        mine = {
            pid
            for pid, (_, command) in table.items()
            if (self.address in command or f"--gcs_server_port={self.port}" in command)
            and (ip is None or f"={ip} " in command or f"={ip}:" in command)
        }
        return _with_descendants(mine, table)

    def node_ids(self) -> dict[str, str]:
        """Address -> node id of every live node, asked of the cluster by a Ray driver."""
        script = (
            "import json, ray\n"
            f"ray.init(address={self.address!r}, _node_ip_address={HEAD_IP!r}, log_to_driver=False)\n"
            "print(json.dumps({n['NodeManagerAddress']: n['NodeID'] for n in ray.nodes() "
            "if n['Alive']}))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"listing the nodes failed:\n{done.stderr[-3000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def import_everywhere(
        self, module: str, *, cwd: Path, py_modules: Sequence[str] = ()
    ) -> dict[str, str | None]:
        """Address -> the file each live node imports ``module`` from (None: it cannot), asked
        by a Ray driver started in ``cwd`` that ships ``py_modules`` to the workers, or nothing.

        Ray puts the driver's working directory on its workers' ``sys.path``, so ``cwd`` is part
        of the question.
        """
        script = (
            "import importlib, json, sys, ray\n"
            "from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy\n"
            "module, py_modules = sys.argv[1], json.loads(sys.argv[2])\n"
            f"ray.init(address={self.address!r}, _node_ip_address={HEAD_IP!r}, "
            "log_to_driver=False, runtime_env={'py_modules': py_modules} if py_modules else None)\n"
            "@ray.remote(num_cpus=0)\n"
            "def where(name):\n"
            "    try:\n"
            "        return importlib.import_module(name).__file__\n"
            "    except ModuleNotFoundError:\n"
            "        return None\n"
            "nodes = {n['NodeManagerAddress']: n['NodeID'] for n in ray.nodes() if n['Alive']}\n"
            "found = ray.get([where.options(scheduling_strategy=NodeAffinitySchedulingStrategy("
            "node, soft=False)).remote(module) for node in nodes.values()])\n"
            "print(json.dumps(dict(zip(nodes, found))))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, module, json.dumps(list(py_modules))],
            cwd=cwd, env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"importing {module} on the nodes failed:\n{done.stderr[-3000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def kill_worker(self, ip: str) -> None:
        """Kills every process of one worker node, as when its machine is lost."""
        _kill(self._node_pids(ip))
        self.workers.remove(ip)

    def client_server_logs(self) -> str:
        """The ends of the head's Ray Client server logs, which say why a client was refused."""
        logs = sorted(
            Path("/tmp/ray").glob("session_*/logs/ray_client_server*"),
            key=lambda log: log.stat().st_mtime,
        )
        return "\n".join(f"--- {log}\n{log.read_text()[-1500:]}" for log in logs[-3:])

    def stop(self) -> None:
        for _ in range(3):
            pids = self._node_pids(None)
            if not pids:
                break
            _kill(pids)
            time.sleep(0.5)
        shutil.rmtree(Path(self.env[TOKEN_PATH]).parent, ignore_errors=True)


def start_cluster(*, head_cpus: int = 1, head_gpus: int = 0) -> RayCluster:
    """Starts a head node with token authentication on, as `ray start` does by default, and a
    token of its own that every node and driver of the cluster reads from one file."""
    token = Path(tempfile.mkdtemp(prefix="tune-mtl-cluster-")) / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "RAY_AUTH_MODE": "token", TOKEN_PATH: str(token)}
    env.pop("RAY_ADDRESS", None)
    cluster = RayCluster(free_port(), env, client_port=free_port())
    cluster._start(
        [
            "--head", f"--node-ip-address={HEAD_IP}", f"--port={cluster.port}",
            f"--ray-client-server-port={cluster.client_port}",
            f"--num-cpus={head_cpus}", f"--num-gpus={head_gpus}", "--include-dashboard=false",
        ]
    )  # fmt: skip
    # `ray start` makes this the machine's default cluster; a plain `ray.init()` elsewhere would
    # join it. Tests pass the address instead.
    Path("/tmp/ray/ray_current_cluster").unlink(missing_ok=True)
    return cluster
