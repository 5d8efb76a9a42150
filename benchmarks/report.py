"""The benchmark's outputs: a markdown page with the tables, a PNG of the log10 hypervolume
difference to the best front known over time, and the raw numbers as JSON, from which
`python benchmarks/search_efficiency.py --from-json` makes the page and the plot again (records
made before this edition included: they get the new page)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis import (
    DEFAULT_ARM,
    GAP_FLOOR,
    arm_summaries,
    cpu_at,
    hypervolume_at,
    is_legacy,
    known_front,
    log_gap_curve,
    memory_summary,
    paired_differences,
    reference_point,
    targets,
)

__all__ = ["write_outputs", "ARM_LABELS", "arm_labels", "machine_lines"]

ARM_LABELS = {
    "a": "(a) TPE + MO-ASHA",
    "b": "(b) TPE + ASHA on the mean improvement (the default)",
    "c": "(c) TPE, no early stopping",
    "d": "(d) random search, no early stopping",
    "e": "(e) the article's Keras loop over gamma",
    "f": "(f) KerasTuner Hyperband",
}
# Records made before named tasks: ASHA then ranked on the mean validation accuracy.
LEGACY_ARM_LABELS = {**ARM_LABELS, "b": "(b) TPE + ASHA on mean val accuracy"}
GRID_POINTS = 400


def arm_labels(runs: list[dict[str, Any]]) -> dict[str, str]:
    """The arms' names as the runs were made."""
    return LEGACY_ARM_LABELS if any(is_legacy(run) for run in runs) else ARM_LABELS


def write_outputs(record: dict[str, Any], out: Path) -> dict[str, Path]:
    """Writes ``out`` (markdown), and beside it the plot (.png) and the raw numbers (.json)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out, "png": out.with_suffix(".png"), "json": out.with_suffix(".json")}
    record = {**record, "json_name": paths["json"].name}
    paths["json"].write_text(json.dumps(record, indent=1) + "\n")
    _plot(record["runs"], paths["png"])
    paths["markdown"].write_text(markdown(record, png_name=paths["png"].name))
    return paths


def _fmt(value: float | None, spec: str = ".0f", unit: str = " s") -> str:
    if value is None or value != value:
        return "never" if unit == " s" else "n/a"
    return f"{value:{spec}}{unit}"


def markdown(record: dict[str, Any], *, png_name: str) -> str:
    runs = record["runs"]
    summaries = arm_summaries(runs) if runs else {}
    memory = None
    if record.get("memory"):
        memory = memory_summary({int(k): v for k, v in record["memory"].items()})
    settings, machine = record["settings"], record["machine"]
    labels = arm_labels(runs)
    lines = [
        f"# Search efficiency on `{settings['dataset']}`: tune-mtl against its peers",
        "",
        f"Made with `{record['command']}` from {record['started']} to {record['finished']} "
        f"({record['wall_s'] / 60:.0f} min). The raw numbers are in "
        f"[{record['json_name']}]({record['json_name']}); "
        "`python benchmarks/search_efficiency.py --from-json FILE.json --out FILE.md` "
        "writes this page and the plot again from them.",
        "",
        f"Each arm had {settings['budget_s']:g} s of wall-clock time per seed (seeds "
        f"{', '.join(map(str, settings['seeds']))}), one arm after another on the same machine, on "
        f"`{settings['dataset']}`: model `{settings['model']}`, up to {settings['max_epochs']} "
        f"epochs of {settings['examples_per_epoch'] or 'all the'} training examples (at most "
        f"the train split), batch {settings['batch_size']}; searches ran "
        f"{settings['concurrency']} trials at once, one CPU each.",
        "",
        "## Results",
        "",
        *(f"{line[0].upper()}{line[1:]}" for line in record.get("skipped", {}).values()),
        *([""] if record.get("skipped") else []),
        "| arm | final test hypervolume (mean ± sd) | final log10 HV difference (median) | "
        "time to (e)'s final HV (median) | seeds reaching (e)'s final | "
        "CPU-s to (e)'s final (median) | completed trials/h | finished trials/h | CPU-s used | "
        "other load | peak PSS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm, s in summaries.items():
        mean, sd = s["final_hypervolume_mean_sd"]
        raced = len(s["time_to_article_s"])
        lines.append(
            f"| {labels.get(arm, arm)} | {mean:.4f} ± {sd:.4f} | "
            f"{_fmt(s['final_log_gap_median'], '.2f', '')} | "
            f"{_fmt(s['time_to_article_median_s']) if raced else 'n/a'} | "
            f"{s['reached']}/{raced} | "
            f"{_fmt(s['cpu_to_article_median_s']) if raced else 'n/a'} | "
            f"{s['completed_per_hour']:.1f} | {s['finished_per_hour']:.1f} | "
            f"{s['tree_cpu_s']:.0f} | {s['other_load_cpus']:.2f} CPUs | "
            f"{s['peak_pss_mb']:.0f} MiB |"
        )
    lines += [
        "",
        f"![log10 hypervolume difference to the best front known, against time and "
        f"CPU-seconds]({png_name})",
        "",
    ]
    lines += ["### Targets", "", "| target | measured | status |", "| --- | --- | --- |"]
    lines += [
        f"| {t['target']} | {t['measured']} | **{t['status']}** |"
        for t in targets(summaries, memory)
    ]
    lines += ["", *_per_seed(runs, summaries, labels)]
    lines += _paired_lines(summaries, labels)
    lines += _memory_lines(memory)
    lines += [
        "The orchestration overhead has a page of its own: [overhead.md](overhead.md) "
        "(`benchmarks/overhead.py`).",
        "",
    ]
    lines += machine_lines(machine)
    lines += _method_lines(settings, runs)
    return "\n".join(lines) + "\n"


def _per_seed(
    runs: list[dict[str, Any]], summaries: dict[str, Any], labels: dict[str, str]
) -> list[str]:
    seeds = sorted({run["seed"] for run in runs})
    lines = [
        "### Per seed",
        "",
        "Final test hypervolume, its log10 difference to the best front known, time to reach "
        "the final hypervolume of arm (e) on that seed (n/a where (e) completed no trial), and "
        "trials completed / ended within the budget.",
        "",
        "| arm | " + " | ".join(f"seed {seed}" for seed in seeds) + " |",
        "| --- |" + " --- |" * len(seeds),
    ]
    for arm in summaries:
        cells = []
        for seed in seeds:
            run = next((r for r in runs if r["arm"] == arm and r["seed"] == seed), None)
            if run is None:
                cells.append("")
                continue
            summary = summaries[arm]
            index = summary["seeds"].index(seed)
            times = summary["time_to_article_s"]
            budget = run["budget_s"]
            ended = [t for t in run["trials"] if t["end_s"] is not None and t["end_s"] <= budget]
            completed = sum(t["status"] == "completed" for t in ended)
            cells.append(
                f"{hypervolume_at(run, budget):.4f}, "
                f"{_fmt(summary['final_log_gap'][index], '.2f', '')}, "
                f"{_fmt(times[seed]) if seed in times else 'n/a'}, {completed}/{len(ended)}"
            )
        lines.append(f"| {labels.get(arm, arm)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _paired_lines(summaries: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """The default (b) against each other arm on the same seeds (`paired_differences`)."""
    if DEFAULT_ARM not in summaries or len(summaries) < 2:
        return []
    lines = [
        "### The default, seed by seed",
        "",
        f"The final test hypervolume of {labels.get(DEFAULT_ARM, DEFAULT_ARM)} less each other "
        "arm's on the same seed (a seed sets the data's split and the models' seeds for every "
        "arm), on how many seeds the default is above, and the differences' mean ± sd. The "
        "targets above compare each arm's spread over seeds, which also holds how the seed moves "
        "every arm together.",
        "",
        "| arm | the default less it, per seed | default above | mean ± sd |",
        "| --- | --- | --- | --- |",
    ]
    for other, paired in paired_differences(summaries, DEFAULT_ARM).items():
        differences = paired["differences"]
        mean, sd = paired["mean_sd"]
        lines.append(
            f"| {labels.get(other, other)} | "
            + ", ".join(f"{difference:+.4f}" for difference in differences)
            + f" | {paired['above']} of {len(differences)} | {mean:+.4f} ± {sd:.4f} |"
        )
    return [*lines, ""]


def _memory_lines(memory: dict[str, Any] | None) -> list[str]:
    if not memory or memory.get("ratio") is None:
        return ["### Memory", "", "Not measured.", ""]
    peaks = memory["peak_pss_mb"]
    return [
        "### Memory",
        "",
        "Peak proportional set size (PSS, shared pages split between their processes) summed over "
        "every process of a short search (driver, Ray, workers), TPE without early stopping:",
        "",
        "| trials at once | peak PSS |",
        "| --- | --- |",
        *(f"| {k} | {v:.0f} MiB |" for k, v in sorted(peaks.items())),
        "",
        f"Ratio 2 / 1: **{memory['ratio']:.2f}**.",
        "",
    ]


def machine_lines(machine: dict[str, Any]) -> list[str]:
    """The page's `## Machine` section, from `benchmarks.procfs.machine_info`."""
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    return [
        "## Machine",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs "
        f"({machine['usable_cpus']} usable by the benchmark)",
        f"- Memory: {machine['memory_gib']} GiB; OS: {machine['os']}",
        f"- Load average when the benchmark started: {machine['load_average_at_start']}",
        f"- Versions: {versions}",
        f"- tune-mtl commit: {machine['git_commit']}",
        "",
    ]


def _hypervolume_method(runs: list[dict[str, Any]]) -> str:
    """How the page's hypervolume was measured: its reference point, as the runs recorded it."""
    if any(is_legacy(run) for run in runs):
        return (
            "- **Hypervolume.** At time t, the completed trials' front on validation accuracies "
            "(as the search picks it); the hypervolume of its members' test accuracies, reference "
            "point chance accuracy per task (`tune_mtl.pareto.hypervolume_2d`). "
        )
    points: dict[str, list[int]] = {}
    for run in runs:
        point = ", ".join(f"{label} {value:.4f}" for label, value in reference_point(run).items())
        seeds = points.setdefault(point, [])
        if run["seed"] not in seeds:
            seeds.append(run["seed"])
    if len(points) == 1:
        stated = next(iter(points))
    else:
        stated = "; ".join(
            f"{point} (seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))})"
            for point, seeds in points.items()
        )
    return (
        "- **Hypervolume.** At time t, the completed trials' front on validation metrics (as the "
        "search picks it); the hypervolume of its members' test metrics "
        "(`tune_mtl.pareto.hypervolume`, mean absolute errors negated). Its reference point is "
        "each task's constant predictor, not chance accuracy: what always answering the training "
        "split's most frequent class (for a regression task, its median) scores on the "
        f"validation split (`Dataset.references`): {stated or 'no runs'}. "
    )


def _method_lines(settings: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    legacy = any(is_legacy(run) for run in runs)
    asha = (
        "ASHA on the mean validation accuracy"
        if legacy
        else "ASHA on `val_score`, the mean of each task's improvement over its constant predictor"
    )
    return [
        "## Method",
        "",
        "- **Arms.** (a)-(d) are `tune_mtl.search` on the default search space of the commit "
        "below (`search_spaces/default.yaml`, its `start:` configurations first where it has "
        "them) with `time_budget_s`, differing only in sampler and scheduler: (a) TPE + "
        f"MO-ASHA, (b) TPE + {asha}, (c) TPE without early stopping, (d) random search "
        "without early stopping. (e) is the article's method: a plain Keras loop, no Ray, over "
        f"gamma 0, 0.25, 0.5, 0.75, 1 in that order, with the {settings['model']} model's default "
        "widths, learning rate and dropout, the same epochs, examples per epoch and batch size, "
        "and TensorFlow's default threads (every core); when the five are done before the budget "
        "ends it starts again with a new weight seed. (f) is KerasTuner's `Hyperband` used as its "
        "users do (`benchmarks/kerastuner_arm.py`): the default space's parameters declared as "
        "KerasTuner hyperparameters of the same ranges (Hyperband samples every configuration at "
        "random), the same model, epochs, examples per epoch and batch size, one objective per "
        "task (KerasTuner sums them), `max_epochs` the arm's, factor 3, one trial at a time "
        "with TensorFlow's default threads; a callback stops training at the first epoch end "
        "past the budget and no trial starts after it. A "
        "trial's metrics are those of the epoch KerasTuner keeps (its best, by the summed "
        "objectives); trials of Hyperband's lower rungs count as stopped. Every arm feeds its "
        "models alike (`tune_mtl.training.feed`): each epoch's examples in an order seeded per "
        "epoch, through a `tf.data` pipeline without autotuning.",
        "- **Clock.** Every arm runs in its own process; its clock starts when that process is "
        "started, so importing TensorFlow, loading the data and starting Ray count against the "
        "budget. Only trials that completed every epoch within the budget count.",
        _hypervolume_method(runs) + "Every completed "
        "trial's checkpoint is evaluated on the test split after its arm ended, outside the "
        "budget.",
        "- **Distance to the best front known.** The best front known on this data set is the "
        "Pareto front, on test metrics, of every trial any arm completed within its budget on any "
        "seed; its hypervolume (same reference point) is the best known. An arm's curve is "
        "log10(best known - hypervolume at t), the median over seeds; a run that holds the best "
        f"front reads log10({GAP_FLOOR:g}) = {np.log10(GAP_FLOOR):.0f}.",
        "- **Time to the article's result.** Per seed, the first time an arm's hypervolume "
        "reaches the final hypervolume of arm (e) on that seed (n/a where (e) completed no "
        "trial); the median over seeds counts a seed that never reached it as later than any "
        '("never" when that is the median).',
        "- **Spread and ties.** The final hypervolume is given as mean ± sd over seeds; in the "
        "targets, two arms whose means differ by no more than the larger of their two sds are a "
        "*tie*: the difference is within the spread over seeds.",
        "- **CPU-seconds.** User plus system CPU time of the arm's whole process tree (driver, "
        "Ray's processes, workers), read from `/proc/PID/stat` every "
        f"{settings['sample_interval_s']:g} s. *Other load*: the machine-wide busy time "
        "(`/proc/stat`) less the arm's own, per second of budget: CPUs that processes outside "
        "the benchmark kept busy meanwhile. Above about 0.1, the arms competed with other "
        "work and their numbers are less comparable.",
        "- **Trials per hour.** Trials that completed (or ended at all, early-stopped ones "
        "included) within the budget, per hour of budget.",
        "- **Memory.** Peak of the summed PSS (`/proc/PID/smaps_rollup`) of the process tree, "
        f"sampled every {settings['memory_interval_s']:g} s, in a {settings['memory_budget_s']:g}"
        " s search with 1 and with 2 trials at once.",
        "",
    ]


def _plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    front = known_front(runs)
    figure, (by_time, by_cpu) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for arm in dict.fromkeys(run["arm"] for run in runs):
        arm_runs = [run for run in runs if run["arm"] == arm]
        budget = max(run["budget_s"] for run in arm_runs)
        times = np.linspace(0, budget, GRID_POINTS)
        gaps = np.array([_staircase(log_gap_curve(run, front), times) for run in arm_runs])
        label = arm_labels(runs).get(arm, arm)
        (line,) = by_time.plot(times, np.median(gaps, axis=0), label=label, drawstyle="steps-post")
        if len(arm_runs) > 1:
            by_time.fill_between(
                times, gaps.min(axis=0), gaps.max(axis=0), color=line.get_color(), alpha=0.15,
                step="post",
            )  # fmt: skip
        top = max(cpu_at(run, run["budget_s"]) for run in arm_runs)
        cpu_grid = np.linspace(0, top if top == top and top > 0 else 1.0, GRID_POINTS)
        on_cpu = np.array([_staircase(_curve_on_cpu(run, front), cpu_grid) for run in arm_runs])
        by_cpu.plot(cpu_grid, np.median(on_cpu, axis=0), color=line.get_color(),
                    drawstyle="steps-post")  # fmt: skip
    by_time.set_xlabel("wall-clock seconds since the arm started")
    by_cpu.set_xlabel("CPU-seconds of the arm's process tree")
    by_time.set_ylabel("log10(best known hypervolume - hypervolume)")
    by_time.set_title("median over seeds, lower is better (band: min to max)")
    by_cpu.set_title("median over seeds")
    by_time.legend(loc="upper right", fontsize=8)
    for axis in (by_time, by_cpu):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _curve_on_cpu(run: dict[str, Any], front: np.ndarray) -> list[tuple[float, float]]:
    return [(cpu_at(run, t), gap) for t, gap in log_gap_curve(run, front)]


def _staircase(curve: list[tuple[float, float]], grid: np.ndarray) -> np.ndarray:
    """The staircase's value at each grid point: the last step at or before it."""
    steps = np.array(curve, dtype=float)
    index = np.searchsorted(steps[:, 0], grid, side="right") - 1
    return steps[np.clip(index, 0, None), 1]
