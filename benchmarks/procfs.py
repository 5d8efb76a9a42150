"""CPU time and memory of the benchmark's process tree, and the machine, read from Linux's /proc.

A search is many processes: the driver, Ray's GCS, raylet and agents, one worker per trial slot.
`TreeSampler` follows every descendant of the benchmark process and sums, every few tenths of a
second, their CPU time (``utime + stime`` of ``/proc/PID/stat``) and their proportional set size
(``Pss`` of ``/proc/PID/smaps_rollup``: shared pages split between the processes sharing them, so
the sum is the tree's real footprint). A process that ends keeps the CPU time it had at its last
sample. The benchmark process makes itself a child subreaper, so processes orphaned by their
parent stay in its tree, and it stops whatever of its own tree is left after each run.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = [
    "Sample",
    "TreeSampler",
    "become_subreaper",
    "descendants",
    "stop_descendants",
    "machine_info",
]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphaned descendants are re-parented to this process instead of init, so they stay in
    its tree for sampling and clean-up."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children[int(fields[1])].append(int(entry.name))
    found, queue = [], list(children.get(root, []))
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _cpu(pid: int) -> tuple[tuple[int, int], float] | None:
    """((pid, start time), CPU seconds) of one process; the start time tells reused pids apart."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # After the name: state ppid ... utime (index 11) stime (12) ... starttime (19).
    return (pid, int(fields[19])), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass  # the process ended between listing and reading
    return 0


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (any process's load)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS  # guest time is already in user time


@dataclass(frozen=True)
class Sample:
    """One reading, ``t`` seconds after the run started."""

    t: float
    tree_cpu_s: float
    machine_busy_s: float
    pss_mb: float | None  # None where memory was not read this time


@dataclass
class TreeSampler:
    """Samples the descendants of ``root`` in a thread from ``start()`` until ``stop()``.

    Args:
        t0: the run's start on the ``time.monotonic`` clock; sample times are relative to it.
        interval: seconds between CPU readings.
        memory_every: read memory at every n-th sample (smaps_rollup costs more than stat).
    """

    root: int
    t0: float
    interval: float = 1.0
    memory_every: int = 1
    samples: list[Sample] = field(default_factory=list)
    processes_seen: int = 0
    _cpu_by_process: dict[tuple[int, int], float] = field(default_factory=dict)
    _machine_start: float = 0.0
    _stopped: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._machine_start = machine_busy_seconds()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[Sample]:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        self._sample(with_memory=True)
        return self.samples

    @property
    def peak_pss_mb(self) -> float:
        return max((s.pss_mb for s in self.samples if s.pss_mb is not None), default=0.0)

    def _loop(self) -> None:
        count = 0
        while not self._stopped.is_set():
            self._sample(with_memory=count % self.memory_every == 0)
            count += 1
            self._stopped.wait(self.interval)

    def _sample(self, *, with_memory: bool) -> None:
        pids = descendants(self.root)
        pss = 0
        for pid in pids:
            reading = _cpu(pid)
            if reading is not None:
                self._cpu_by_process[reading[0]] = reading[1]
            if with_memory:
                pss += _pss_bytes(pid)
        self.processes_seen = len(self._cpu_by_process)
        self.samples.append(
            Sample(
                t=time.monotonic() - self.t0,
                tree_cpu_s=sum(self._cpu_by_process.values()),
                machine_busy_s=machine_busy_seconds() - self._machine_start,
                pss_mb=pss / 2**20 if with_memory else None,
            )
        )


def stop_descendants(root: int, *, grace_s: float = 15.0) -> list[int]:
    """Waits up to ``grace_s`` for ``root``'s leftover descendants to end, then kills them.

    Returns the pids that had to be killed. Reaps the ones re-parented to ``root``.
    """
    deadline = time.monotonic() + grace_s
    while descendants(root) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.2)
    killed = descendants(root)
    for pid in killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    _reap()
    return killed


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git_commit(repo: Path) -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' (with uncommitted changes)' if dirty else ''}"


def machine_info(repo: Path) -> dict[str, object]:
    """The CPU, cores, memory, OS and package versions that the numbers were measured with."""
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    versions = {"python": platform.python_version()}
    for package in ("tune-mtl", "tensorflow", "keras", "ray", "optuna", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kb / 2**20, 1),
        "os": f"{platform.system()} {platform.release()}",
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "versions": versions,
        "git_commit": _git_commit(repo),
    }
