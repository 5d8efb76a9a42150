"""One run of the benchmark in its own process: a search arm, the article's Keras loop,
KerasTuner's Hyperband, or the bare loop. `search_efficiency.py` starts it and samples its process
tree; it writes one JSON file.

    python -m benchmarks.run_arm search --name c-seed0 --sampler tpe --scheduler none ...
    python -m benchmarks.run_arm keras --seed 0 ...
    python -m benchmarks.run_arm kerastuner --seed 0 --workdir searches ...
    python -m benchmarks.run_arm bare --jobs jobs.json --threads 1 ...

Times in the file are seconds after ``--t0``, a ``time.monotonic`` value taken by the parent
just before it started this process (the monotonic clock is the same for every process), so the
process's start-up (imports, data, Ray) counts against the budget like everything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Far more than a budget lets finish: the budget, not the count, ends the search.
UNLIMITED_TRIALS = 100_000


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--t0", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--examples-per-epoch", type=int)
    parser.add_argument("--learning-rate-schedule", default="constant")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_arm")
    commands = parser.add_subparsers(dest="command", required=True)
    search = commands.add_parser("search", help="a tune-mtl search with a time budget")
    _common(search)
    search.add_argument("--budget", type=float, required=True)
    search.add_argument("--name", required=True)
    search.add_argument("--sampler", required=True)
    search.add_argument("--scheduler", required=True)
    search.add_argument("--concurrency", type=int, required=True)
    search.add_argument("--workdir", type=Path, required=True)
    search.add_argument("--space", type=Path, help="a search-space file [the default space]")
    search.add_argument("--no-test", action="store_true", help="skip the test evaluation")
    search.add_argument("--trials", type=int, default=UNLIMITED_TRIALS, help="[the budget's]")
    keras_loop = commands.add_parser("keras", help="the article's loop over gamma")
    _common(keras_loop)
    keras_loop.add_argument("--budget", type=float, required=True)
    kerastuner = commands.add_parser("kerastuner", help="KerasTuner's Hyperband, time-budgeted")
    _common(kerastuner)
    kerastuner.add_argument("--budget", type=float, required=True)
    kerastuner.add_argument("--name", required=True)
    kerastuner.add_argument("--workdir", type=Path, required=True)
    kerastuner.add_argument("--space", type=Path, help="a search-space file [the default space]")
    bare = commands.add_parser("bare", help="given configurations, one after another")
    _common(bare)
    bare.add_argument("--jobs", type=Path, required=True, help="JSON: [[name, params, seed]]")
    bare.add_argument("--threads", type=int, required=True)
    return parser


def _load(args: argparse.Namespace) -> Any:
    from tune_mtl.data import load_dataset

    return load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed)


def _loop_settings(args: argparse.Namespace) -> Any:
    from benchmarks.keras_loop import LoopSettings

    return LoopSettings(
        args.model,
        args.max_epochs,
        args.batch_size,
        args.examples_per_epoch,
        args.learning_rate_schedule,
    )


def _header(data: Any) -> dict[str, Any]:
    """The tasks with their metric, direction and reference value (the constant predictor's
    validation score, the hypervolume's reference point), as a search's summary holds them."""
    from tune_mtl.objectives import Objectives

    return {"objectives": Objectives.for_tasks(data.tasks, data.references).to_dict()}


def run_search(args: argparse.Namespace) -> dict[str, Any]:
    """A budgeted search; each trial's end is when its progress line came, on this clock."""
    import ray

    import tune_mtl
    from tune_mtl.progress import PROGRESS_LINE
    from tune_mtl.trial_files import epoch_history, latest_checkpoint
    from tune_mtl.weights import WEIGHT_PREFIX

    ends: dict[str, float] = {}
    fit_start: list[float] = []

    def echo(line: str) -> None:
        now = time.monotonic() - args.t0
        match = PROGRESS_LINE.match(line)
        if match:
            ends[match["trial_id"]] = now
        elif line.startswith("Searching:"):
            fit_start.append(now)
        print(f"[{now:7.1f} s] {line}", flush=True)

    remaining = args.t0 + args.budget - time.monotonic()
    result = tune_mtl.search(
        trials=args.trials, data=args.dataset, data_dir=args.data_dir, model=args.model,
        max_epochs=args.max_epochs, batch_size=args.batch_size,
        examples_per_epoch=args.examples_per_epoch,
        learning_rate_schedule=args.learning_rate_schedule, sampler=args.sampler,
        scheduler=args.scheduler, concurrency=args.concurrency, seed=args.seed,
        space=args.space, results=args.workdir, name=args.name,
        time_budget_s=max(1.0, remaining),
        echo=echo, live=False,
    )  # fmt: skip
    ray.shutdown()
    experiment = result.path
    objectives = result.objectives
    # The loss weights are derived from gamma; a bare loop given the hyperparameters derives them.
    params = [
        p for p in result.summary.params
        if p in result.trials.columns and not p.startswith(WEIGHT_PREFIX)
    ]  # fmt: skip
    data = None if args.no_test else _load(args)
    trials = []
    for row in result.trials.itertuples(index=False):
        trial = row._asdict()
        history = epoch_history(experiment, trial["trial_id"])
        end = ends.get(trial["trial_id"])
        test = None
        # Trials that completed after the budget (while the search was still stopping) never count.
        if (
            data is not None
            and trial["status"] == "completed"
            and end is not None
            and end <= args.budget
        ):
            checkpoint = latest_checkpoint(experiment, trial["trial_id"])
            test = _evaluate_checkpoint(checkpoint.path, data.test, objectives.tasks)
        trials.append(
            {
                "id": trial["trial_id"],
                "status": trial["status"],
                "epochs": int(trial["epochs"]),
                "end_s": end,
                "pid": int(history["pid"].iloc[-1]) if "pid" in history else None,
                "trial_s": None if trial["seconds"] != trial["seconds"] else trial["seconds"],
                "val": [trial[column] for column in objectives.all_columns("val")],
                "test": test,
                "config": {p: trial[p] for p in params},
            }
        )
    return {
        "kind": "search",
        "fit_start_s": fit_start[0] if fit_start else None,
        "experiment": str(experiment),
        "trials": _plain(trials),
        "objectives": objectives.to_dict(),
    }


def _evaluate_checkpoint(path: Path, test: Any, tasks: Any) -> list[float]:
    """The checkpoint's test metric per task, in the order of ``tasks``."""
    import keras

    from tune_mtl.training import evaluate

    model = keras.models.load_model(path)
    metrics = evaluate(model, test, tasks)
    keras.backend.clear_session()
    return [metrics[task.column("test")] for task in tasks]


def _plain(value: Any) -> Any:
    """numpy scalars and NaN as JSON numbers and null."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _loop_trials(models: list[Any], tests: list[Any]) -> list[dict[str, Any]]:
    return _plain(
        [
            {
                "id": m.name,
                "status": "completed" if m.completed else "stopped",
                "epochs": m.epochs,
                "end_s": m.end_s,
                "slot_s": m.slot_s,
                "val": list(m.val),
                "test": list(test) if test is not None else None,
                "config": m.config,
                "seed": m.seed,
            }
            for m, test in zip(models, tests, strict=True)
        ]
    )


def run_keras(args: argparse.Namespace) -> dict[str, Any]:
    """The article's method: gamma in {0, 0.25, 0.5, 0.75, 1}, one model after another, with
    TensorFlow's default threads (every core), until the budget ends."""
    from benchmarks.keras_loop import evaluate_on_test, gamma_rounds, train_one_after_another

    data = _load(args)
    if len(data.tasks) != 2:
        raise ValueError(
            f"the article's loop weighs two tasks with gamma, but {args.dataset} has "
            f"{len(data.tasks)} ({', '.join(data.task_names)}); run the search arms only "
            "(--arms a,b,c,d)."
        )
    models = train_one_after_another(
        gamma_rounds(args.seed), data, _loop_settings(args),
        t0=args.t0, deadline=args.t0 + args.budget,
    )  # fmt: skip
    tests = evaluate_on_test(models, data)
    return {"kind": "keras", "trials": _loop_trials(models, tests), **_header(data)}


def run_kerastuner(args: argparse.Namespace) -> dict[str, Any]:
    """KerasTuner's Hyperband on the space's parameters, one trial at a time with TensorFlow's
    default threads, until the budget ends (`benchmarks/kerastuner_arm.py`)."""
    from benchmarks.kerastuner_arm import run_hyperband
    from tune_mtl.objectives import Objectives
    from tune_mtl.space import default_space_path, load_space

    space = load_space(args.space or default_space_path())
    data = _load(args)
    header = _header(data)
    trials = run_hyperband(
        data, space, _loop_settings(args), Objectives.from_dict(header["objectives"]),
        seed=args.seed, t0=args.t0, budget=args.budget, directory=args.workdir, name=args.name,
    )  # fmt: skip
    return {"kind": "kerastuner", "space": str(space.path), "trials": _plain(trials), **header}


def run_bare(args: argparse.Namespace) -> dict[str, Any]:
    """Given configurations trained to the end, each on ``--threads`` threads as a trial is.

    One untimed epoch of the first configuration comes first: the search's times are taken from
    workers that had already trained a trial, past TensorFlow's first-model costs (thread pools,
    kernels, allocator), so the bare loop's are too.
    """
    from dataclasses import replace

    from benchmarks.keras_loop import train_one_after_another
    from tune_mtl.training import configure_backend

    configure_backend(cpus=args.threads)
    jobs = [tuple(job) for job in json.loads(args.jobs.read_text())]
    data = _load(args)
    settings = _loop_settings(args)
    train_one_after_another(jobs[:1], data, replace(settings, max_epochs=1), t0=args.t0)
    models = train_one_after_another(jobs, data, settings, t0=args.t0)
    return {
        "kind": "bare",
        "threads": args.threads,
        "trials": _loop_trials(models, [None] * len(models)),
        **_header(data),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tune_mtl.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()  # as the CLI does: no CUDA lines on a CPU-only machine
    run = {"search": run_search, "keras": run_keras, "kerastuner": run_kerastuner,
           "bare": run_bare}[args.command]  # fmt: skip
    record = run(args)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
