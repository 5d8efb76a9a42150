"""Median and range over repeated runs of one search, read back from their result folders.

    for i in 1 2 3; do tune-mtl search --trials 50 --name make-search-$i; done
    python benchmarks/repeated_runs.py results/make-search-{1,2,3} --out docs/make-search.md \\
        --command "tune-mtl search --trials 50" --bar item=0.90 --bar group=0.98

A figure in the README is the median and range of several runs: this writes them, per run and
over the runs, as a markdown page (and JSON beside it): the search's wall time, trials completed,
the front's size, its test hypervolume above the constant predictors and its test loss
hypervolume, and per objective the front's best test metric and the knee's. ``--bar TASK=VALUE``
counts the runs whose front reaches VALUE on TASK's test metric (at least, or at most for a metric
minimised). Only tune-mtl's readers are used (`tune_mtl.results.load_results`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: `python benchmarks/repeated_runs.py`
    sys.path.insert(0, str(REPO))

from tune_mtl.errors import TuneMtlError  # noqa: E402
from tune_mtl.results import SearchResult, load_results  # noqa: E402

__all__ = ["run_figures", "over_runs", "bar_counts", "write_page", "main"]

SHARED_OPTIONS = (
    "data", "model", "space", "trials", "max_epochs", "examples_per_epoch",
    "learning_rate_schedule", "scheduler", "reduction_factor", "sampler", "seed", "time_budget_s",
)  # fmt: skip


def run_figures(result: SearchResult) -> dict[str, Any]:
    """One run's figures; per objective task, the front's best test metric and the knee's."""
    summary = result.summary
    figures: dict[str, Any] = {
        "name": summary.name,
        "wall_s": summary.wall_seconds,
        "trials": sum(summary.status_counts.values()),
        "completed": summary.status_counts.get("completed", 0),
        "front_size": summary.front_size,
        "hypervolume_test": summary.hypervolume_test,
        "hypervolume_test_loss": summary.hypervolume_test_loss,
        "best": {},
        "knee": {},
    }
    for task in result.objectives.objective_tasks:
        values = result.pareto[task.column("test")]
        best = values.max() if task.direction == "max" else values.min()
        figures["best"][task.name] = float(best) if len(values) else None
        figures["knee"][task.name] = (
            float(result.knee[task.column("test")]) if len(result.pareto) else None
        )
    return figures


def over_runs(values: list[float | None]) -> tuple[float, float, float] | None:
    """Median, lowest and highest; None unless every run has the value."""
    if not values or any(value is None for value in values):
        return None
    numbers = [float(value) for value in values if value is not None]
    return statistics.median(numbers), min(numbers), max(numbers)


def bar_counts(
    runs: list[dict[str, Any]], bars: dict[str, float], directions: dict[str, str]
) -> dict[str, int]:
    """Per task, how many runs' fronts reach its bar on the test metric."""
    counts = {}
    for task, bar in bars.items():
        reached = 0
        for run in runs:
            best = run["best"][task]
            if best is not None and (best >= bar if directions[task] == "max" else best <= bar):
                reached += 1
        counts[task] = reached
    return counts


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {round(seconds % 60):02d} s"


def write_page(
    results: list[SearchResult], *, bars: dict[str, float], command: str, out: Path
) -> dict[str, Path]:
    """The markdown page and the JSON of its numbers, beside each other."""
    runs = [run_figures(result) for result in results]
    tasks = results[0].objectives.objective_tasks
    labels = {task.name: task.label for task in tasks}
    directions = {task.name: task.direction for task in tasks}
    options = results[0].summary.options
    shared = ", ".join(
        f"{key} {Path(options[key]).name if key == 'space' else options[key]}"
        for key in SHARED_OPTIONS
        if options.get(key) is not None
    )
    versions = ", ".join(f"{k} {v}" for k, v in results[0].summary.versions.items())
    columns: list[tuple[str, Any, Any]] = [
        ("wall time", lambda r: r["wall_s"], _minutes),
        ("trials", lambda r: r["trials"], "{:g}".format),
        ("completed", lambda r: r["completed"], "{:g}".format),
        ("front", lambda r: r["front_size"], "{:g}".format),
        ("test hypervolume", lambda r: r["hypervolume_test"], "{:.4f}".format),
        ("test loss hypervolume", lambda r: r["hypervolume_test_loss"], "{:.3f}".format),
        *[(f"front's best {labels[t]}", lambda r, t=t: r["best"][t], "{:.4f}".format)
          for t in labels],
        *[(f"knee's {labels[t]}", lambda r, t=t: r["knee"][t], "{:.4f}".format) for t in labels],
    ]  # fmt: skip
    lines = [
        f"# {len(runs)} runs of `{command}`",
        "",
        "Read back from the runs' folders ("
        + ", ".join(f"`{result.path}`" for result in results)
        + f") by `benchmarks/repeated_runs.py`. Settings: {shared}. Versions: {versions}.",
        "",
        "| run | " + " | ".join(name for name, _, _ in columns) + " |",
        "| --- " * (len(columns) + 1) + "|",
    ]
    for run in runs:
        cells = ["n/a" if get(run) is None else text(get(run)) for _, get, text in columns]
        lines.append(f"| {run['name']} | " + " | ".join(cells) + " |")
    summary_cells = []
    for _, get, text in columns:
        spread = over_runs([get(run) for run in runs])
        if spread is None:
            summary_cells.append("n/a")
        else:
            median, lowest, highest = map(text, spread)
            summary_cells.append(f"{median} ({lowest} to {highest})")
    lines += ["| median (range) | " + " | ".join(summary_cells) + " |", ""]
    counts = bar_counts(runs, bars, directions)
    for task, bar in bars.items():
        sign = ">=" if directions[task] == "max" else "<="
        lines.append(
            f"- The front's best test {labels[task]} {sign} {bar:g}: {counts[task]} of "
            f"{len(runs)} runs."
        )
    lines += [
        "",
        "Wall time is the search's own (`summary.json`'s `wall_seconds`): from the first trial's "
        "launch to the results written, after the few seconds of loading the data and starting "
        "Ray that the search prints before. "
        "Hypervolumes are those of `summary.json`: test metrics above each task's constant "
        "predictor, and the test losses below a loss of 2 per task. The front's best is the best "
        "test metric among its members; the knee is the member `tune-mtl pareto` marks `*`.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    raw = out.with_suffix(".json")
    raw.write_text(json.dumps({"command": command, "bars": bars, "runs": runs}, indent=1) + "\n")
    return {"markdown": out, "json": raw}


def _bars(texts: list[str]) -> dict[str, float]:
    bars = {}
    for text in texts:
        task, _, value = text.partition("=")
        try:
            bars[task] = float(value)
        except ValueError:
            raise TuneMtlError(f"--bar {text!r}: give TASK=VALUE, e.g. --bar item=0.90.") from None
    return bars


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/repeated_runs.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("folders", type=Path, nargs="+", help="result folders of the runs")
    parser.add_argument("--out", type=Path, required=True, help="markdown page to write")
    parser.add_argument("--bar", action="append", default=[], help="TASK=VALUE, repeatable")
    parser.add_argument("--command", required=True, help="what made the runs, for the page")
    args = parser.parse_args(argv)
    try:
        bars = _bars(args.bar)
        results = [load_results(folder) for folder in args.folders]
        names = {task.name for task in results[0].objectives.objective_tasks}
        unknown = sorted(set(bars) - names)
        if unknown:
            raise TuneMtlError(
                f"--bar {unknown[0]}: not an objective of these runs; choose from "
                f"{', '.join(sorted(names))}."
            )
        paths = write_page(results, bars=bars, command=args.command, out=args.out)
    except TuneMtlError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {paths['markdown']} and {paths['json'].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
