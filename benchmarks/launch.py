"""Starting the benchmark's runs as processes while sampling their tree: a search arm, the
Keras arm, the KerasTuner arm, the searches of the memory check, and the searches and bare loops
of `benchmarks/overhead.py`.

Each run is `python -m benchmarks.run_arm ...` with this checkout on ``PYTHONPATH``; it writes a
JSON file, and `measure_processes` adds the samples of its process tree (CPU time, PSS) to it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.procfs import TreeSampler, stop_descendants

__all__ = ["BenchmarkError", "SEARCH_ARMS", "KERASTUNER_ARM", "MEMORY_INTERVAL_S", "bare_command",
           "default_settings",
           "measure_processes", "run_arm", "run_memory", "search_command",
           "unavailable_arms"]  # fmt: skip

REPO = Path(__file__).resolve().parent.parent
# (sampler, scheduler) of the search arms; arm (e) is the plain Keras loop, (f) KerasTuner.
SEARCH_ARMS = {"a": ("tpe", "mo-asha"), "b": ("tpe", "asha"), "c": ("tpe", "none"),
               "d": ("random", "none")}  # fmt: skip
KERASTUNER_ARM = "f"
MEMORY_INTERVAL_S = 0.5


class BenchmarkError(Exception):
    """The benchmark cannot go on; the message names what failed and where to look."""


def kerastuner_installed() -> bool:
    return importlib.util.find_spec("keras_tuner") is not None


def unavailable_arms() -> dict[str, str]:
    """The arms this Python cannot run, each with one line that says why and how to fix it."""
    if kerastuner_installed():
        return {}
    return {
        KERASTUNER_ARM: "arm (f) skipped: KerasTuner is not installed; "
        "pip install -e '.[bench]' (or make install) adds it."
    }


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("RAY_ADDRESS", None)  # every search starts its own local Ray
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def measure_processes(
    build: Callable[[float], list[list[str]]],
    logs: list[Path],
    *,
    interval: float,
    memory_every: int,
) -> dict[str, Any]:
    """Runs the commands ``build(t0)`` side by side while sampling this process's tree."""
    t0 = time.monotonic()
    sampler = TreeSampler(root=os.getpid(), t0=t0, interval=interval, memory_every=memory_every)
    sampler.start()
    processes = []
    for command, log in zip(build(t0), logs, strict=True):
        with log.open("w") as stream:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.run_arm", *command],
                    cwd=REPO,
                    env=_env(),
                    stdout=stream,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
    codes = [process.wait() for process in processes]
    samples = sampler.stop()
    killed = stop_descendants(os.getpid())
    for code, log in zip(codes, logs, strict=True):
        if code != 0:
            tail = log.read_text().strip().splitlines()[-1:] or ["(empty log)"]
            raise BenchmarkError(f"{log.stem} ended with exit code {code}: {tail[0]} (see {log}).")
    return {
        "samples": [[s.t, s.tree_cpu_s, s.machine_busy_s, s.pss_mb] for s in samples],
        "peak_pss_mb": sampler.peak_pss_mb,
        "processes_seen": sampler.processes_seen,
        "wall_s": time.monotonic() - t0,
        "leftover_processes_killed": len(killed),
    }


def default_settings(*, max_epochs: int | None, concurrency: int) -> dict[str, Any]:
    """The default space's training settings (model, batch, examples per epoch, schedule), with
    the benchmark's epochs (the space's when None) and trials at once."""
    from tune_mtl.options import DEFAULTS
    from tune_mtl.space import default_space_path, load_space

    merged = {**DEFAULTS, **load_space(default_space_path()).settings}
    return {
        "model": merged["model"], "batch_size": merged["batch_size"],
        "max_epochs": max_epochs or merged["max_epochs"],
        "examples_per_epoch": merged["examples_per_epoch"],
        "learning_rate_schedule": merged["learning_rate_schedule"],
        "concurrency": concurrency,
    }  # fmt: skip


def _common(t0: float, seed: int, options: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    common = [
        "--t0", repr(t0), "--seed", str(seed), "--dataset", options["dataset"],
        "--model", settings["model"], "--max-epochs", str(settings["max_epochs"]),
        "--batch-size", str(settings["batch_size"]),
        "--learning-rate-schedule", settings["learning_rate_schedule"],
    ]  # fmt: skip
    if settings["examples_per_epoch"] is not None:
        common += ["--examples-per-epoch", str(settings["examples_per_epoch"])]
    if options["data_dir"] is not None:
        common += ["--data-dir", str(options["data_dir"])]
    return common


def search_command(
    name: str, sampler: str, scheduler: str, *, concurrency: int, budget: float, seed: int,
    options: dict[str, Any], settings: dict[str, Any], workdir: Path, test: bool = True,
    space: Path | None = None, trials: int | None = None,
) -> Callable[[float], list[list[str]]]:  # fmt: skip
    """A search that writes ``workdir/NAME.json``: until ``budget`` seconds, or ``trials``."""

    def build(t0: float) -> list[list[str]]:
        return [[
            "search", "--out", str(workdir / f"{name}.json"),
            *_common(t0, seed, options, settings), "--budget", repr(budget), "--name", name,
            "--sampler", sampler, "--scheduler", scheduler, "--concurrency", str(concurrency),
            "--workdir", str(workdir / "searches"), *([] if test else ["--no-test"]),
            *([] if space is None else ["--space", str(space)]),
            *([] if trials is None else ["--trials", str(trials)]),
        ]]  # fmt: skip

    return build


def bare_command(
    names: list[str], *, options: dict[str, Any], settings: dict[str, Any], workdir: Path
) -> Callable[[float], list[list[str]]]:
    """Bare loops side by side, one per name, each on one thread: loop NAME trains the jobs of
    ``workdir/NAME-jobs.json`` and writes ``workdir/NAME.json``."""

    def build(t0: float) -> list[list[str]]:
        return [
            ["bare", "--out", str(workdir / f"{name}.json"),
             *_common(t0, options["seed"], options, settings),
             "--jobs", str(workdir / f"{name}-jobs.json"), "--threads", "1"]
            for name in names
        ]  # fmt: skip

    return build


def run_arm(
    arm: str, seed: int, options: dict[str, Any], settings: dict[str, Any], workdir: Path
) -> dict[str, Any]:
    name = f"{arm}-seed{seed}"
    budget = options["budget"]
    if arm in SEARCH_ARMS:
        sampler, scheduler = SEARCH_ARMS[arm]
        build = search_command(
            name, sampler, scheduler, concurrency=settings["concurrency"], budget=budget,
            seed=seed, options=options, settings=settings, workdir=workdir,
        )  # fmt: skip
    elif arm == KERASTUNER_ARM:

        def build(t0: float) -> list[list[str]]:
            common = _common(t0, seed, options, settings)
            out = str(workdir / f"{name}.json")
            return [["kerastuner", "--out", out, *common, "--budget", repr(budget),
                     "--name", name, "--workdir", str(workdir / "kerastuner")]]  # fmt: skip

    else:

        def build(t0: float) -> list[list[str]]:
            common = _common(t0, seed, options, settings)
            out = str(workdir / f"{name}.json")
            return [["keras", "--out", out, *common, "--budget", repr(budget)]]

    measured = measure_processes(
        build, [workdir / "logs" / f"{name}.log"],
        interval=options["sample_interval"], memory_every=options["memory_every"],
    )  # fmt: skip
    result = json.loads((workdir / f"{name}.json").read_text())
    return {"arm": arm, "seed": seed, "budget_s": budget, **result, **measured}


def run_memory(
    options: dict[str, Any], settings: dict[str, Any], workdir: Path
) -> tuple[dict[str, float], dict[str, Any]]:
    peaks, raw = {}, {}
    for concurrency in (1, 2):
        name = f"memory-{concurrency}"
        build = search_command(
            name, "tpe", "none", concurrency=concurrency, budget=options["memory_budget"],
            seed=options["seeds"][0], options=options, settings=settings, workdir=workdir,
            test=False,
        )  # fmt: skip
        measured = measure_processes(
            build, [workdir / "logs" / f"{name}.log"],
            interval=MEMORY_INTERVAL_S, memory_every=1,
        )  # fmt: skip
        peaks[str(concurrency)] = measured["peak_pss_mb"]
        raw[name] = measured
        print(f"memory, {concurrency} trial(s) at once: peak PSS {measured['peak_pss_mb']:.0f} MiB")
    return peaks, raw
