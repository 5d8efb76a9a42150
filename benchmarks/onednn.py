"""Seconds per epoch of the default search's trials with TensorFlow's oneDNN kernels off and on.

    python benchmarks/onednn.py --repeats 3 --out docs/onednn.md

tune-mtl turns oneDNN on (``TF_ENABLE_ONEDNN_OPTS=1``, set in `tune_mtl`) where TensorFlow leaves
it off. Each repeat runs the default space's start configurations as a search runs them: one
process per configuration, all at once, each on one thread, training epochs of the default space's
size; once with oneDNN off and once on, in alternating order. An epoch's seconds are its training
and validation (`tune_mtl.training.train_epoch`); the first epoch, which traces the model, is left
out. The page gives per repeat the median epoch of each setting and their ratio, and over repeats
the ratio's median and range.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: `python benchmarks/onednn.py`
    sys.path.insert(0, str(REPO))

from benchmarks.procfs import machine_info  # noqa: E402

__all__ = ["epoch_seconds", "main"]

SETTINGS = {"off": "0", "on": "1"}


def epoch_seconds(start_index: int, epochs: int) -> list[float]:
    """Trains the default space's start configuration ``start_index`` on one thread; the seconds
    of each epoch after the first."""
    import keras

    from benchmarks.keras_loop import image_builder
    from tune_mtl.building import build_model
    from tune_mtl.data import load_dataset
    from tune_mtl.space import default_space_path, load_space
    from tune_mtl.training import configure_backend, train_epoch

    configure_backend(cpus=1)
    space = load_space(default_space_path())
    data = load_dataset(space.settings["data"])
    keras.utils.set_random_seed(0)
    model = build_model(
        image_builder(data, space.settings["model"]), space.start[start_index], data.tasks,
        sample=data.train.head(2),
    )  # fmt: skip
    assert data.val is not None  # load_dataset carves it
    seconds = []
    for epoch in range(epochs):
        metrics = train_epoch(
            model, data.train, data.val, epoch=epoch, batch_size=space.settings["batch_size"],
            examples_per_epoch=space.settings["examples_per_epoch"],
        )  # fmt: skip
        seconds.append(metrics["epoch_seconds"])
    return seconds[1:]


def _run_setting(setting: str, *, processes: int, epochs: int) -> float:
    """The median epoch over ``processes`` concurrent trainings with oneDNN ``setting``."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": SETTINGS[setting], "TF_CPP_MIN_LOG_LEVEL": "2"}
    running = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", str(index), "--epochs", str(epochs)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(processes)
    ]
    seconds: list[float] = []
    for process in running:
        output, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a worker with oneDNN {setting} failed (exit {process.returncode})")
        seconds.extend(json.loads(output.strip().splitlines()[-1]))
    return statistics.median(seconds)


def write_page(out: Path, runs: list[dict[str, float]], command: str) -> None:
    """The per-repeat table and the speed-up's median and range, as markdown and JSON."""
    ratios = [run["off"] / run["on"] for run in runs]
    machine = machine_info(REPO)
    versions = machine["versions"]
    assert isinstance(versions, dict)
    lines = [
        "# TensorFlow's oneDNN kernels: seconds per epoch off and on",
        "",
        f"`{command}` on {machine['usable_cpus']} CPUs ({machine['cpu_model']}), commit "
        f"{machine['git_commit']}, TensorFlow {versions['tensorflow']}. Each repeat trains the "
        "default space's start configurations at once, one process and one thread each, as a "
        "search's trials run, with oneDNN off and on (the order alternates); an epoch is training "
        "plus validation, the first (tracing) left out.",
        "",
        "| repeat | off: s per epoch | on: s per epoch | speed-up (off / on) |",
        "| --- | --- | --- | --- |",
    ]
    for index, (run, ratio) in enumerate(zip(runs, ratios, strict=True), start=1):
        lines.append(f"| {index} | {run['off']:.2f} | {run['on']:.2f} | {ratio:.2f}x |")
    lines += [
        "",
        f"Speed-up: median {statistics.median(ratios):.2f}x (range {min(ratios):.2f}x to "
        f"{max(ratios):.2f}x) over {len(ratios)} repeats.",
        "",
    ]
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps({"runs": runs, "machine": machine}, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="per process, the first included")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "onednn.md")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(epoch_seconds(args.worker, args.epochs)))
        return 0
    from tune_mtl.space import default_space_path, load_space

    processes = len(load_space(default_space_path()).start)
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        order = ("off", "on") if repeat % 2 == 0 else ("on", "off")
        run = {s: _run_setting(s, processes=processes, epochs=args.epochs) for s in order}
        print(f"repeat {repeat + 1}: off {run['off']:.2f} s, on {run['on']:.2f} s", flush=True)
        runs.append(run)
    command = "python benchmarks/onednn.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_page(args.out, runs, command.strip())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
