"""Tuned static weights against learned loss weighting, at equal wall-clock.

    python benchmarks/weighting.py --data fashion_mnist multi_fashion --seeds 0 1 2 \\
        --budget 90 --out docs/weighting.md
    python benchmarks/weighting.py --smoke          # seconds, synthetic data

Every arm is a tune-mtl search of the default space (TPE, ASHA; without its ``start:``
configurations) with the same wall-clock budget, one after another on the same machine, in its own
process. They differ only in how a trial weighs its tasks: ``static`` searches gamma (or simplex
weights); each learned strategy replaces gamma, once at its paper's setting and, where it has a
parameter, once with that parameter searched too. The page gives each arm's final test
hypervolume over seeds, how it compares with static (a difference within the larger of the two
spreads is a tie) and the cost of its epochs relative to static's. The raw runs go to a JSON file
beside the page.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: `python benchmarks/weighting.py`
    sys.path.insert(0, str(REPO))

from benchmarks.analysis import hypervolume_at, is_tie  # noqa: E402
from benchmarks.launch import BenchmarkError, measure_processes, search_command  # noqa: E402
from benchmarks.procfs import become_subreaper, machine_info  # noqa: E402

# Each arm: the strategy and, for a searched parameter, its range (as the README's example).
ARMS: dict[str, dict[str, Any]] = {
    "static": {"strategy": "static"},
    "uncertainty": {"strategy": "uncertainty"},
    "dwa": {"strategy": "dwa"},
    "dwa, T searched": {"strategy": "dwa",
                        "dwa_temperature": {"type": "loguniform", "low": 0.5, "high": 5.0}},
    "gradnorm": {"strategy": "gradnorm"},
    "gradnorm, alpha searched": {"strategy": "gradnorm",
                                 "gradnorm_alpha": {"type": "uniform", "low": 0.0, "high": 3.0}},
    "pcgrad": {"strategy": "pcgrad"},
}  # fmt: skip
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"budget": 90.0, "seeds": [0, 1, 2], "data": ["fashion_mnist", "multi_fashion"],
             "max_epochs": 5, "examples_per_epoch": 4000, "concurrency": 2},
    "smoke": {"budget": 8.0, "seeds": [0], "data": ["synthetic"], "max_epochs": 2,
              "examples_per_epoch": None, "concurrency": 1},
}  # fmt: skip


def arm_space(arm: str, default: dict[str, Any]) -> dict[str, Any]:
    """The default space with ``arm``'s weighting in place of gamma (static: unchanged), without
    its ``start:`` configurations: they are static ones, and every arm samples from the start."""
    spec = ARMS[arm]
    sampled = {key: value for key, value in default.items() if key != "start"}
    if spec["strategy"] == "static":
        return sampled
    params = {key: value for key, value in default["params"].items() if key != "gamma"}
    fixed = {"weighting": {"type": "choice", "values": [spec["strategy"]]}}
    searched = {key: value for key, value in spec.items() if key != "strategy"}
    return {**sampled, "params": {**fixed, **searched, **params}}


def _run(arm: str, data: str, seed: int, options: dict[str, Any], workdir: Path) -> dict[str, Any]:
    from tune_mtl.space import default_space_path

    default = yaml.safe_load(default_space_path().read_text())
    name = f"{data}-{arm.replace(', ', '-').replace(' ', '-')}-seed{seed}"
    space = workdir / "spaces" / f"{name}.yaml"
    space.parent.mkdir(parents=True, exist_ok=True)
    space.write_text(yaml.safe_dump(arm_space(arm, default), sort_keys=False))
    settings = {
        "model": default["model"], "batch_size": default["batch_size"],
        "max_epochs": options["max_epochs"], "examples_per_epoch": options["examples_per_epoch"],
    }  # fmt: skip
    build = search_command(
        name, "tpe", default["scheduler"], concurrency=options["concurrency"],
        budget=options["budget"], seed=seed, options={"dataset": data, "data_dir": None},
        settings=settings, workdir=workdir, space=space,
    )  # fmt: skip
    measured = measure_processes(
        build, [workdir / "logs" / f"{name}.log"], interval=1.0, memory_every=10
    )
    result = json.loads((workdir / f"{name}.json").read_text())
    _, tree_cpu, machine_busy, _ = measured["samples"][-1]
    return {"arm": arm, "data": data, "seed": seed, "budget_s": options["budget"], **result,
            "wall_s": measured["wall_s"],
            "other_load_cpus": (machine_busy - tree_cpu) / measured["wall_s"]}  # fmt: skip


def _seconds_per_epoch(runs: list[dict[str, Any]]) -> float:
    """Median over the runs' trials of a trial's seconds per epoch."""
    values = [t["trial_s"] / t["epochs"] for r in runs for t in r["trials"]
              if t["trial_s"] is not None and t["epochs"] > 0]  # fmt: skip
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per data set and arm: final hypervolume per seed, mean, sd, completed trials, seconds
    per epoch, and the verdict against static."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for data in dict.fromkeys(r["data"] for r in runs):
        arms: dict[str, dict[str, Any]] = {}
        for arm in dict.fromkeys(r["arm"] for r in runs if r["data"] == data):
            mine = [r for r in runs if r["data"] == data and r["arm"] == arm]
            volumes = [hypervolume_at(r, r["budget_s"]) for r in mine]
            arms[arm] = {
                "hypervolume": volumes,
                "mean": statistics.fmean(volumes),
                "sd": statistics.stdev(volumes) if len(volumes) > 1 else 0.0,
                "completed": [sum(t["status"] == "completed" and t["end_s"] is not None
                                  and t["end_s"] <= r["budget_s"] for t in r["trials"])
                              for r in mine],
                "seconds_per_epoch": _seconds_per_epoch(mine),
                "other_load_cpus": statistics.fmean(r["other_load_cpus"] for r in mine),
            }  # fmt: skip
        static = arms.get("static")
        for values in arms.values():
            values["cost"] = static and values["seconds_per_epoch"] / static["seconds_per_epoch"]
            values["verdict"] = _verdict(values, static)
        summary[data] = arms
    return summary


def _verdict(arm: dict[str, Any], static: dict[str, Any] | None) -> str:
    if static is None or arm is static:
        return ""
    if is_tie((arm["mean"], arm["sd"]), (static["mean"], static["sd"])):
        return "tie"
    return "ahead" if arm["mean"] > static["mean"] else "behind"


def markdown(record: dict[str, Any]) -> str:
    options = record["options"]
    lines = [
        "# Loss weighting: tuned static weights against learned strategies",
        "",
        f"Made with `{record['command']}` from {record['started']} to {record['finished']} "
        f"({record['wall_s'] / 60:.0f} min) on {record['machine']['cpu_model']} "
        f"({record['machine']['usable_cpus']} CPUs usable, commit "
        f"{record['machine']['git_commit']}). The raw runs are in "
        f"[{Path(record['json']).name}]({Path(record['json']).name}).",
        "",
        f"Each arm is a search of the default space (TPE, ASHA on the mean improvement over the "
        "constant predictors; model `small`; without its `start:` configurations) with "
        f"{options['budget']:g} s of wall-clock per seed "
        f"(seeds {', '.join(map(str, options['seeds']))}), up to {options['max_epochs']} epochs "
        f"of {options['examples_per_epoch'] or 'all'} training examples, "
        f"{options['concurrency']} trials at once, one arm after another. The arms differ only "
        "in the `weighting`: `static` searches gamma; each learned strategy replaces gamma, at its "
        "paper's setting (DWA T = 2, GradNorm alpha = 1.5) or with that parameter searched "
        "(T log-uniform in [0.5, 5], alpha uniform in [0, 3]); `uncertainty` and `pcgrad` have no "
        "parameter of their own, so their one arm is both. Hypervolume: the test metrics of "
        "the front chosen on validation among the trials completed within the budget, above the "
        "constant predictors. Against static: `tie` when the difference of the means is within "
        "the larger of the two standard deviations. Cost: the median seconds per epoch of the "
        "arm's trials over static's. Other load: CPUs busy outside the arm's processes, mean over "
        "seeds.",
    ]
    for data, arms in record["summary"].items():
        lines += [
            "",
            f"## {data}",
            "",
            "| weighting | test hypervolume (mean ± sd) | per seed | against static | "
            "completed trials per seed | cost per epoch vs static | other load |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for arm, s in arms.items():
            per_seed = ", ".join(f"{v:.4f}" for v in s["hypervolume"])
            cost = "" if s["cost"] is None else f"{s['cost']:.2f}x"
            lines.append(
                f"| {arm} | {s['mean']:.4f} ± {s['sd']:.4f} | {per_seed} | "
                f"{s['verdict'] or '—'} | {', '.join(map(str, s['completed']))} | {cost} | "
                f"{s['other_load_cpus']:.2f} CPUs |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python benchmarks/weighting.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", nargs="+", help="data sets [fashion_mnist multi_fashion]")
    parser.add_argument("--seeds", type=int, nargs="+", help="[0 1 2]")
    parser.add_argument("--budget", type=float, help="seconds per arm, data set and seed [90]")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), help="[all]")
    parser.add_argument("--out", type=Path, help="markdown page [a temp folder]")
    parser.add_argument("--workdir", type=Path, help="searches and logs [a temp folder]")
    parser.add_argument("--smoke", action="store_true", help="seconds, synthetic data")
    parser.add_argument("--from-json", type=Path, help="only write the page from a JSON record")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        record = json.loads(args.from_json.read_text())
        (args.out or args.from_json.with_suffix(".md")).write_text(markdown(record))
        return 0
    options = dict(PRESETS["smoke" if args.smoke else "full"])
    options.update({key: value for key in ("data", "seeds", "budget")
                    if (value := getattr(args, key)) is not None})  # fmt: skip
    if not options["budget"] > 0:
        print(f"error: --budget must be > 0, got {options['budget']}.", file=sys.stderr)
        return 2
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="tune-mtl-weighting-"))).resolve()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    out = (args.out or workdir / "weighting.md").resolve()
    become_subreaper()
    record: dict[str, Any] = {
        "command": "python benchmarks/weighting.py " + shlex.join(argv),
        "started": f"{datetime.now():%Y-%m-%d %H:%M}",
        "machine": machine_info(REPO),
        "options": options,
        "runs": [],
        "json": str(out.with_suffix(".json")),
    }
    started = time.monotonic()
    try:
        for data in options["data"]:
            for seed in options["seeds"]:
                for arm in args.arms or ARMS:
                    run = _run(arm, data, seed, options, workdir)
                    record["runs"].append(run)
                    (workdir / "partial.json").write_text(json.dumps(record) + "\n")
                    print(f"{data} seed {seed} {arm}: test hypervolume "
                          f"{hypervolume_at(run, run['budget_s']):.4f}", flush=True)  # fmt: skip
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    record["finished"] = f"{datetime.now():%Y-%m-%d %H:%M}"
    record["wall_s"] = time.monotonic() - started
    record["summary"] = summarise(record["runs"])
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    out.write_text(markdown(record))
    print(f"Wrote {out} and {out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
