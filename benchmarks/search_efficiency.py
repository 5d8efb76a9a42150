"""How fast each way of searching finds a good front, on the same machine with the same budget.

    python benchmarks/search_efficiency.py --data fashion_mnist   # docs/benchmarks.md
    python benchmarks/search_efficiency.py --data multi_fashion   # docs/benchmarks-multi-fashion.md
    python benchmarks/search_efficiency.py --smoke                # seconds, synthetic data, for CI

Runs, for each seed, arms (a) TPE + MO-ASHA, (b) TPE + ASHA, (c) TPE, (d) random search, (e) the
article's plain Keras loop over gamma and (f) KerasTuner's Hyperband, one after another, each in
its own process with the same wall-clock budget, while a thread samples the CPU time and memory of
the process tree; without KerasTuner installed (`pip install -e '.[bench]'`) it skips (f) and says
so. Then it runs two short searches with 1 and 2 trials at once (memory). It writes a markdown
page per data set, a PNG and the raw numbers as JSON (see `benchmarks/report.py`). The
orchestration overhead has a benchmark of its own, `benchmarks/overhead.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: `python benchmarks/search_efficiency.py`
    sys.path.insert(0, str(REPO))

from benchmarks.analysis import hypervolume_at, reference_point  # noqa: E402
from benchmarks.launch import (  # noqa: E402
    MEMORY_INTERVAL_S,
    BenchmarkError,
    default_settings,
    run_arm,
    run_memory,
    unavailable_arms,
)
from benchmarks.procfs import become_subreaper, machine_info  # noqa: E402
from benchmarks.report import ARM_LABELS, write_outputs  # noqa: E402

ALL_ARMS = ("a", "b", "c", "d", "e", "f")
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"budget": 600.0, "seeds": [0, 1, 2], "dataset": "fashion_mnist", "max_epochs": None,
             "memory_budget": 120.0, "out": None,
             "sample_interval": 1.0, "memory_every": 5, "concurrency": None},
    # Seconds: too short for a search to complete a trial on 2 cores; it checks the plumbing.
    "smoke": {"budget": 6.0, "seeds": [0], "dataset": "synthetic", "max_epochs": 2,
              "memory_budget": 3.0, "out": None,
              "sample_interval": 0.5, "memory_every": 1, "concurrency": 1},
}  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/search_efficiency.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--budget", type=float, help="seconds per arm and seed [600; smoke 6]")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds [0 1 2; smoke 0]")
    parser.add_argument("--arms", help="comma-separated subset of a,b,c,d,e,f [all]")
    parser.add_argument(
        "--out",
        type=Path,
        help="markdown page [docs/benchmarks.md, docs/benchmarks-DATA.md for other data; "
        "smoke: tmp]",
    )
    parser.add_argument(
        "--data",
        "--dataset",
        dest="dataset",
        help="a built-in data set, one per page [fashion_mnist; smoke synthetic]",
    )
    parser.add_argument("--data-dir", type=Path, help="where the data set's files are")
    parser.add_argument("--max-epochs", type=int, help="[the default space's; smoke 2]")
    parser.add_argument("--concurrency", type=int, help="trials at once [usable CPUs; smoke 1]")
    parser.add_argument(
        "--memory-budget", type=float, help="seconds of each memory search [120; smoke 3]"
    )
    parser.add_argument("--no-checks", action="store_true", help="skip the memory check")
    parser.add_argument("--workdir", type=Path, help="searches and logs [a new temp folder]")
    parser.add_argument("--smoke", action="store_true", help="a few seconds on synthetic data")
    parser.add_argument("--from-json", type=Path, help="only write the page and plot from JSON")
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Flags given win over the preset."""
    preset = PRESETS["smoke" if args.smoke else "full"]
    options: dict[str, Any] = {key: getattr(args, key, None) for key in preset}
    options = {key: preset[key] if value is None else value for key, value in options.items()}
    options["data_dir"] = args.data_dir
    # As many trials at once as Ray would run on this machine's CPUs, one CPU each.
    options["concurrency"] = options["concurrency"] or len(os.sched_getaffinity(0))
    if options["concurrency"] < 1:
        raise BenchmarkError(f"--concurrency must be >= 1, got {options['concurrency']}.")
    if options["out"] is None and args.smoke:
        options["out"] = Path(tempfile.mkdtemp(prefix="tune-mtl-smoke-")) / "benchmarks.md"
    elif options["out"] is None:
        options["out"] = default_page(options["dataset"])
    for key in ("budget", "memory_budget"):
        if not options[key] > 0:
            raise BenchmarkError(f"--{key.replace('_', '-')} must be > 0, got {options[key]}.")
    return options


def default_page(dataset: str) -> Path:
    """docs/benchmarks.md for Fashion-MNIST, the benchmark's first data set; else one page per
    data set beside it (docs/benchmarks-multi-fashion.md)."""
    if dataset == "fashion_mnist":
        return Path("docs/benchmarks.md")
    return Path(f"docs/benchmarks-{dataset.replace('_', '-')}.md")


def _arms(text: str | None) -> list[str]:
    if text is None:
        return list(ALL_ARMS)
    arms = [arm.strip() for arm in text.split(",") if arm.strip()]
    unknown = [arm for arm in arms if arm not in ALL_ARMS]
    if unknown or not arms:
        raise BenchmarkError(f"--arms {text!r}: choose from a,b,c,d,e,f, e.g. --arms b,c,d,e.")
    return arms


def _describe(run: dict[str, Any]) -> str:
    budget = run["budget_s"]
    ended = [t for t in run["trials"] if t["end_s"] is not None and t["end_s"] <= budget]
    completed = sum(t["status"] == "completed" for t in ended)
    reference = ", ".join(f"{label} {value:.4f}" for label, value in reference_point(run).items())
    return (
        f"seed {run['seed']} {ARM_LABELS[run['arm']]}: {completed} completed, {len(ended)} ended "
        f"within {budget:g} s; test hypervolume {hypervolume_at(run, budget):.4f} above the "
        f"constant predictors ({reference}); peak PSS {run['peak_pss_mb']:.0f} MiB "
        f"({run['wall_s']:.0f} s in all)"
    )


def benchmark(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    options = _options(args)

    arms = _arms(args.arms)
    skipped = {arm: why for arm, why in unavailable_arms().items() if arm in arms}
    for why in skipped.values():
        print(why, flush=True)
    arms = [arm for arm in arms if arm not in skipped]
    if not arms:
        raise BenchmarkError(f"no arm left to run ({', '.join(skipped)} skipped); choose others.")
    settings = default_settings(
        max_epochs=options["max_epochs"], concurrency=options["concurrency"]
    )
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="tune-mtl-bench-"))).resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    out = options["out"].resolve()
    become_subreaper()
    runs = len(arms) * len(options["seeds"])
    checks = "" if args.no_checks else ", then the memory check"
    print(
        f"{runs} runs of {options['budget']:g} s ({len(arms)} arms x {len(options['seeds'])} "
        f"seeds){checks}; searches and logs in {workdir}",
        flush=True,
    )
    record: dict[str, Any] = {
        "command": "python benchmarks/search_efficiency.py " + shlex.join(argv),
        "started": f"{datetime.now():%Y-%m-%d %H:%M}",
        "machine": machine_info(REPO),
        "settings": {
            **settings,
            "budget_s": options["budget"],
            "seeds": options["seeds"],
            "arms": arms,
            "dataset": options["dataset"],
            "sample_interval_s": options["sample_interval"],
            "memory_interval_s": MEMORY_INTERVAL_S,
            "memory_budget_s": options["memory_budget"],
        },  # fmt: skip
        "runs": [],
        "skipped": skipped,
        "workdir": str(workdir),
    }
    started = time.monotonic()
    partial = workdir / "partial.json"
    for seed in options["seeds"]:
        for arm in arms:
            run = run_arm(arm, seed, options, settings, workdir)
            record["runs"].append(run)
            partial.write_text(json.dumps(record) + "\n")  # a crash later keeps what was measured
            print(_describe(run), flush=True)
    if not args.no_checks:
        record["memory"], record["memory_runs"] = run_memory(options, settings, workdir)
    record["finished"] = f"{datetime.now():%Y-%m-%d %H:%M}"
    record["wall_s"] = time.monotonic() - started
    paths = write_outputs(record, out)
    print(f"Wrote {paths['markdown']}, {paths['png'].name} and {paths['json'].name}")
    return record


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if args.from_json is not None:
            record = json.loads(args.from_json.read_text())
            paths = write_outputs(record, args.out or args.from_json.with_suffix(".md"))
            print(f"Wrote {paths['markdown']} and {paths['png'].name}")
            return 0
        benchmark(args, argv)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
