"""What running a trial through tune-mtl costs against training the same model in a bare loop.

    python benchmarks/overhead.py --repeats 3                 # docs/overhead.md
    python benchmarks/overhead.py --smoke                     # seconds, synthetic data, for CI

Each repeat trains the same `--configs` configurations twice, each time ``--concurrency`` at
once, one TensorFlow thread each: once through tune-mtl (a search with Optuna's random sampler,
seeded, so every repeat proposes the same configurations; no early stopping, no test evaluation)
and once in bare Keras loops side by side (`benchmarks.run_arm bare`: no Ray, no Optuna, no
checkpoints). The two sides take turns going first, so a drift of the machine's speed during
the run weighs on both. A configuration's time is its slot: from the previous configuration's
end in the same worker to its own end, gaps included. A worker's first trial, which pays Ray's
worker and TensorFlow's start-up, is left out, and its configuration with it on both sides; the
bare loop trains one untimed epoch first for the same reason. The page gives each repeat's
ratio (bare seconds over tune-mtl seconds, for the same configurations) and their median and
range.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: `python benchmarks/overhead.py`
    sys.path.insert(0, str(REPO))

from benchmarks.analysis import search_slots  # noqa: E402
from benchmarks.launch import (  # noqa: E402
    BenchmarkError,
    bare_command,
    default_settings,
    measure_processes,
    search_command,
)
from benchmarks.procfs import become_subreaper, machine_info  # noqa: E402
from benchmarks.report import machine_lines  # noqa: E402

__all__ = ["TARGET_RATIO", "compare", "main", "same_config"]

TARGET_RATIO = 0.95
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"dataset": "fashion_mnist", "max_epochs": 9, "configs": 4, "repeats": 3,
             "concurrency": None, "out": Path("docs/overhead.md")},
    "smoke": {"dataset": "synthetic", "max_epochs": 2, "configs": 2, "repeats": 2,
              "concurrency": 1, "out": None},
}  # fmt: skip
# A search that has not ended its few trials by then is broken, not slow.
SEARCH_BUDGET_S = 3600.0
# The process tree's CPU is sampled; its memory (smaps, costly to read) is not.
NO_MEMORY = 10**9


def same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same hyperparameters, floats compared to rounding (they pass through CSV files)."""
    if a.keys() != b.keys():
        return False
    return all(
        math.isclose(a[k], b[k], rel_tol=1e-9)
        if isinstance(a[k], float) or isinstance(b[k], float)
        else a[k] == b[k]
        for k in a
    )


def compare(
    search_run: dict[str, Any], bare_trials: list[dict[str, Any]], configs: list[dict[str, Any]]
) -> dict[str, Any]:
    """One repeat: the search's warm trials (not their worker's first) and the bare loop's
    trials of the same configurations, with the ratio of their summed slots.

    Raises:
        BenchmarkError: the search trained other configurations than ``configs``, or stopped one.
    """
    warm = []
    for trial in search_slots(search_run):
        index = next((i for i, c in enumerate(configs) if same_config(c, trial["config"])), None)
        if index is None or trial["status"] != "completed":
            raise BenchmarkError(
                f"the search trained {trial['config']} ({trial['status']}), which is not one of "
                f"the first repeat's configurations; the seeded random sampler must propose the "
                f"same ones every repeat."
            )
        if not trial["first_on_worker"]:
            warm.append((index, trial))
    if not warm:
        raise BenchmarkError(
            "no trial ran on a worker that had trained one before; raise --configs above "
            "--concurrency."
        )
    bare = {int(trial["id"].removeprefix("config")): trial for trial in bare_trials}
    search_s = sum(trial["slot_s"] for _, trial in warm)
    bare_s = sum(bare[index]["slot_s"] for index, _ in warm)
    return {
        "configs": sorted(index for index, _ in warm),
        "search_slot_s": search_s / len(warm),
        "search_in_trial_s": statistics.fmean(trial["trial_s"] for _, trial in warm),
        "bare_slot_s": bare_s / len(warm),
        "ratio": bare_s / search_s,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/overhead.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", "--dataset", dest="dataset", help="[fashion_mnist]")
    parser.add_argument("--data-dir", type=Path, help="where the data set's files are")
    parser.add_argument("--max-epochs", type=int, help="epochs per configuration [9]")
    parser.add_argument("--configs", type=int, help="configurations per repeat [4]")
    parser.add_argument("--repeats", type=int, help="[3]")
    parser.add_argument("--concurrency", type=int, help="trials at once [usable CPUs]")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's and the weights' [0]")
    parser.add_argument("--out", type=Path, help="markdown page [docs/overhead.md]")
    parser.add_argument("--workdir", type=Path, help="searches and logs [a new temp folder]")
    parser.add_argument("--smoke", action="store_true", help="seconds, on synthetic data")
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    preset = PRESETS["smoke" if args.smoke else "full"]
    options = {k: preset[k] if getattr(args, k) is None else getattr(args, k) for k in preset}
    options.update(data_dir=args.data_dir, seed=args.seed)
    options["concurrency"] = options["concurrency"] or len(os.sched_getaffinity(0))
    for key in ("max_epochs", "configs", "repeats", "concurrency"):
        if options[key] < 1:
            raise BenchmarkError(f"--{key.replace('_', '-')} must be >= 1, got {options[key]}.")
    if options["configs"] <= options["concurrency"]:
        raise BenchmarkError(
            f"--configs {options['configs']} must exceed --concurrency "
            f"{options['concurrency']}: a worker's first trial is not compared."
        )
    if options["out"] is None:
        options["out"] = Path(tempfile.mkdtemp(prefix="tune-mtl-overhead-")) / "overhead.md"
    return options


def _search(
    repeat: int, options: dict[str, Any], settings: dict[str, Any], workdir: Path
) -> dict[str, Any]:
    name = f"search-{repeat}"
    build = search_command(
        name, "random", "none", concurrency=settings["concurrency"], budget=SEARCH_BUDGET_S,
        seed=options["seed"], options=options, settings=settings, workdir=workdir,
        test=False, trials=options["configs"],
    )  # fmt: skip
    measured = measure_processes(
        build, [workdir / "logs" / f"{name}.log"], interval=1.0, memory_every=NO_MEMORY
    )
    return {**json.loads((workdir / f"{name}.json").read_text()), "wall_s": measured["wall_s"]}


def _bare(
    repeat: int,
    configs: list[dict[str, Any]],
    options: dict[str, Any],
    settings: dict[str, Any],
    workdir: Path,
) -> list[dict[str, Any]]:
    jobs = [[f"config{i}", config, options["seed"]] for i, config in enumerate(configs)]
    loops = settings["concurrency"]
    names = [f"bare-{repeat}-{i}" for i in range(loops)]
    for i, name in enumerate(names):
        (workdir / f"{name}-jobs.json").write_text(json.dumps(jobs[i::loops]))
    build = bare_command(names, options=options, settings=settings, workdir=workdir)
    logs = [workdir / "logs" / f"{name}.log" for name in names]
    measure_processes(build, logs, interval=1.0, memory_every=NO_MEMORY)
    return [
        trial
        for name in names
        for trial in json.loads((workdir / f"{name}.json").read_text())["trials"]
    ]


def _page(record: dict[str, Any]) -> str:
    repeats = record["repeats"]
    ratios = [r["ratio"] for r in repeats]
    median = statistics.median(ratios)
    status = "met" if median >= TARGET_RATIO else "missed"
    settings = record["settings"]
    lines = [
        "# Orchestration overhead",
        "",
        f"Command: `{record['command']}` (started {record['started']}, "
        f"{record['wall_s'] / 60:.0f} min).",
        "",
        __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(),
        "",
        f"Data: {settings['dataset']}; model {settings['model']}, {settings['max_epochs']} epochs "
        f"of {settings['examples_per_epoch']} examples, batch {settings['batch_size']}; "
        f"{settings['configs']} configurations per repeat, {settings['concurrency']} at once.",
        "",
        "| repeat | first | configurations compared | tune-mtl s/config (inside the trial) "
        "| bare s/config | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, r in enumerate(repeats):
        lines.append(
            f"| {i} | {r['first']} | {', '.join(map(str, r['configs']))} | "
            f"{r['search_slot_s']:.1f} ({r['search_in_trial_s']:.1f}) | {r['bare_slot_s']:.1f} "
            f"| {r['ratio']:.3f} |"
        )
    lines += [
        "",
        f"Ratio (bare / tune-mtl seconds, higher is better): **median {median:.3f}**, range "
        f"{min(ratios):.3f}-{max(ratios):.3f} over {len(ratios)} repeats. "
        f"Target >= {TARGET_RATIO}: {status}.",
        "",
        *machine_lines(record["machine"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    try:
        options = _options(args)
        settings = default_settings(
            max_epochs=options["max_epochs"], concurrency=options["concurrency"]
        )
        workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="tune-mtl-overhead-"))).resolve()
        (workdir / "logs").mkdir(parents=True, exist_ok=True)
        become_subreaper()
        print(f"{options['repeats']} repeats; searches and logs in {workdir}", flush=True)
        record: dict[str, Any] = {
            "command": "python benchmarks/overhead.py " + shlex.join(argv),
            "started": f"{datetime.now():%Y-%m-%d %H:%M}",
            "machine": machine_info(REPO),
            "settings": {**settings, "dataset": options["dataset"], "configs": options["configs"]},
            "repeats": [],
        }
        started = datetime.now()
        configs: list[dict[str, Any]] = []
        for repeat in range(options["repeats"]):
            # Repeat 0 learns the configurations from its search; later ones alternate the order.
            search_first = repeat % 2 == 0
            if search_first:
                search = _search(repeat, options, settings, workdir)
                configs = configs or [t["config"] for t in search["trials"]]
                bare = _bare(repeat, configs, options, settings, workdir)
            else:
                bare = _bare(repeat, configs, options, settings, workdir)
                search = _search(repeat, options, settings, workdir)
            first = "tune-mtl" if search_first else "bare"
            result = {"first": first, **compare(search, bare, configs)}
            record["repeats"].append(result)
            print(f"repeat {repeat}: ratio {result['ratio']:.3f}", flush=True)
        record["wall_s"] = (datetime.now() - started).total_seconds()
        out = options["out"].resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(_page(record))
        out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {out} and {out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
