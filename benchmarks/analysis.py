"""From the raw runs to the benchmark's numbers: hypervolume over time, time to 95%, throughput,
overhead and memory ratios, and the issue's targets. Pure numpy over the JSON records.

A run (one arm, one seed) is a dict with ``budget_s``, ``objectives`` (`Objectives.to_dict`: the
tasks with their metric, direction and reference value), ``trials`` (each with ``status``,
``end_s``, and ``val`` and ``test`` metrics in the order of the tasks) and ``samples`` (``[t, tree
CPU s, machine busy s, PSS MiB or None]``).

The hypervolume's reference point is each task's constant predictor (`Dataset.references`), not
chance accuracy. Runs recorded before tune-mtl had named tasks hold ``chance`` instead of
``objectives``: two accuracies with chance accuracy as the reference point; they are read as
they were measured, so `--from-json` writes their page again unchanged.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from tune_mtl.objectives import Objectives
from tune_mtl.pareto import hypervolume, pareto_mask

__all__ = [
    "hypervolume_at",
    "reference_point",
    "is_legacy",
    "hypervolume_curve",
    "cpu_at",
    "time_to_reach",
    "arm_summaries",
    "search_slots",
    "overhead_jobs",
    "overhead_summary",
    "memory_summary",
    "targets",
    "REACH_FRACTION",
]

REACH_FRACTION = 0.95


def _completed_by(run: dict[str, Any], t: float) -> list[dict[str, Any]]:
    return [
        trial
        for trial in run["trials"]
        if trial["status"] == "completed"
        and trial["end_s"] is not None
        and trial["end_s"] <= t
        and trial["test"] is not None
    ]


def is_legacy(run: dict[str, Any]) -> bool:
    """Whether the run was recorded before named tasks: chance accuracy as its reference point."""
    return "objectives" not in run


def _objective_space(run: dict[str, Any]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Which of a trial's values are objectives, their signs (-1 for a minimised metric), and
    the reference point in maximised values."""
    if is_legacy(run):
        chance = np.asarray(run["chance"], dtype=float)
        return list(range(len(chance))), np.ones(len(chance)), chance
    objectives = Objectives.from_dict(run["objectives"])
    index = [objectives.task_names.index(name) for name in objectives.objectives]
    return index, objectives.signs, objectives.reference_point


def reference_point(run: dict[str, Any]) -> dict[str, float]:
    """The run's hypervolume reference point by objective (``item accuracy``, ``size MAE``), as
    the metric reads (a mean absolute error positive)."""
    if is_legacy(run):
        return {
            f"{name} accuracy": float(c)
            for name, c in zip(run["tasks"], run["chance"], strict=True)
        }
    objectives = Objectives.from_dict(run["objectives"])
    return {task.label: objectives.reference(task.name) for task in objectives.objective_tasks}


def hypervolume_at(run: dict[str, Any], t: float) -> float:
    """Test hypervolume of the validation front of the trials completed by ``t``.

    The front is chosen on validation metrics, as a search chooses it; its members' test metrics
    make the hypervolume above each task's constant predictor (minimised metrics negated).
    """
    done = _completed_by(run, min(t, run["budget_s"]))
    if not done:
        return 0.0
    index, signs, reference = _objective_space(run)
    val = np.array([trial["val"] for trial in done], dtype=float)[:, index] * signs
    test = np.array([trial["test"] for trial in done], dtype=float)[:, index] * signs
    return hypervolume(test[pareto_mask(val)], reference)


def hypervolume_curve(run: dict[str, Any]) -> list[tuple[float, float]]:
    """(time, hypervolume) at the start and at every completion within the budget: a staircase."""
    times = sorted({trial["end_s"] for trial in _completed_by(run, run["budget_s"])})
    return [(0.0, 0.0), *((t, hypervolume_at(run, t)) for t in times)]


def cpu_at(run: dict[str, Any], t: float) -> float:
    """CPU seconds the run's process tree had used ``t`` seconds after its start."""
    samples = np.array([[s[0], s[1]] for s in run["samples"]], dtype=float).reshape(-1, 2)
    if len(samples) == 0:
        return float("nan")
    return float(np.interp(t, samples[:, 0], samples[:, 1], left=0.0))


def _machine_busy_at(run: dict[str, Any], t: float) -> float:
    samples = np.array([[s[0], s[2]] for s in run["samples"]], dtype=float).reshape(-1, 2)
    if len(samples) == 0:
        return float("nan")
    return float(np.interp(t, samples[:, 0], samples[:, 1], left=0.0))


def time_to_reach(curve: list[tuple[float, float]], target: float) -> float | None:
    """First time the staircase reaches ``target``; None if it never does (or nothing to reach)."""
    if target <= 0:
        return None
    return next((t for t, volume in curve if volume >= target), None)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _median(values: list[float | None]) -> float | None:
    """Median where None (never reached) counts as later than any time; None if that is it."""
    if not values:
        return None
    ordered = sorted(float("inf") if v is None else v for v in values)
    middle = statistics.median(ordered)
    return None if middle == float("inf") else float(middle)


def arm_summaries(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arm, over seeds: final hypervolume, time (and CPU) to 95% of the best any arm found on
    that seed, trials per hour, CPU seconds and peak memory."""
    best = {
        seed: max(hypervolume_at(run, run["budget_s"]) for run in runs if run["seed"] == seed)
        for seed in {run["seed"] for run in runs}
    }
    summaries: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(run["arm"] for run in runs):
        arm_runs = [run for run in runs if run["arm"] == arm]
        finals, times, cpus = [], [], []
        completed, finished, cpu_used, other_load, peaks = [], [], [], [], []
        for run in arm_runs:
            budget = run["budget_s"]
            finals.append(hypervolume_at(run, budget))
            reached = time_to_reach(hypervolume_curve(run), REACH_FRACTION * best[run["seed"]])
            times.append(reached)
            cpus.append(cpu_at(run, reached) if reached is not None else None)
            ended = [t for t in run["trials"] if t["end_s"] is not None and t["end_s"] <= budget]
            completed.append(sum(t["status"] == "completed" for t in ended) * 3600 / budget)
            finished.append(len(ended) * 3600 / budget)
            cpu_used.append(cpu_at(run, budget))
            # CPUs kept busy by processes outside the arm, on average over its budget.
            other_load.append((_machine_busy_at(run, budget) - cpu_at(run, budget)) / budget)
            peaks.append(run["peak_pss_mb"])
        summaries[arm] = {
            "seeds": [run["seed"] for run in arm_runs],
            "final_hypervolume": finals,
            "final_hypervolume_mean_sd": _mean_sd(finals),
            "time_to_95_s": times,
            "time_to_95_median_s": _median(times),
            "cpu_to_95_s": cpus,
            "cpu_to_95_median_s": _median(cpus),
            "reached": sum(t is not None for t in times),
            "completed_per_hour": statistics.fmean(completed),
            "finished_per_hour": statistics.fmean(finished),
            "tree_cpu_s": statistics.fmean(cpu_used),
            "other_load_cpus": statistics.fmean(other_load),
            "peak_pss_mb": statistics.fmean(peaks),
        }
    return summaries


def search_slots(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each ended trial of a search with its slot time: from the previous trial's end on the same
    worker process (or from the search's start, for a worker's first trial) to its own end.

    The slot time is what a trial costs the search, gaps between trials included.
    """
    ended = sorted(
        (t for t in run["trials"] if t["end_s"] is not None and t.get("pid") is not None),
        key=lambda t: t["end_s"],
    )
    previous: dict[int, float] = {}
    slots = []
    for trial in ended:
        start = previous.get(trial["pid"])
        first = start is None
        slot = trial["end_s"] - (run["fit_start_s"] if first else start)
        slots.append({**trial, "slot_s": slot, "first_on_worker": first})
        previous[trial["pid"]] = trial["end_s"]
    return slots


def overhead_jobs(run: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Up to ``count`` completed trials of a search, in order of ending, to train again bare.

    Trials that were not their worker's first are preferred: their slot holds no start-up of
    Ray's worker or TensorFlow, which the bare loop does not pay either.
    """
    slots = [
        s for s in search_slots(run) if s["status"] == "completed" and s["end_s"] <= run["budget_s"]
    ]
    warm = [s for s in slots if not s["first_on_worker"]]
    return (warm or slots)[:count]


def overhead_summary(
    jobs: list[dict[str, Any]], bare: list[dict[str, Any]], *, concurrency: int
) -> dict[str, Any]:
    """Trials per hour through tune-mtl and in the bare loop, for the same configurations."""
    if not jobs or not bare:
        return {"configs": 0}
    search_slot = statistics.fmean(job["slot_s"] for job in jobs)
    bare_slot = statistics.fmean(trial["slot_s"] for trial in bare)
    in_trial = [job["trial_s"] for job in jobs if job.get("trial_s") is not None]
    return {
        "configs": len(jobs),
        "concurrency": concurrency,
        "includes_worker_start": any(job["first_on_worker"] for job in jobs),
        "search_slot_s": search_slot,
        "search_in_trial_s": statistics.fmean(in_trial) if in_trial else None,
        "bare_slot_s": bare_slot,
        "search_per_hour": 3600 * concurrency / search_slot,
        "bare_per_hour": 3600 * concurrency / bare_slot,
        "ratio": bare_slot / search_slot,
    }


def memory_summary(peaks: dict[int, float]) -> dict[str, Any]:
    """Peak PSS of the short searches with 1 and 2 trials at once, and their ratio."""
    one, two = peaks.get(1), peaks.get(2)
    return {
        "peak_pss_mb": {str(k): v for k, v in peaks.items()},
        "ratio": two / one if one and two else None,
    }


def _status(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "missed")


def targets(
    summaries: dict[str, dict[str, Any]],
    overhead: dict[str, Any] | None,
    memory: dict[str, Any] | None,
) -> list[dict[str, str]]:
    """The issue's four targets, each with the numbers compared and met, missed or not measured."""
    rows = []
    a = summaries.get("a")
    others = {arm: s for arm, s in summaries.items() if arm != "a"}
    if a is not None and others:
        own = a["final_hypervolume_mean_sd"][0]
        rival, value = max(
            ((arm, s["final_hypervolume_mean_sd"][0]) for arm, s in others.items()),
            key=lambda pair: pair[1],
        )
        measured = f"(a) {own:.4f} vs best other ({rival}) {value:.4f}"
        met: bool | None = own >= value
    else:
        measured, met = "arm (a) or the others not run", None
    rows.append(
        ("(a)'s final test hypervolume >= every other arm's (mean over seeds)", measured, met)
    )

    d = summaries.get("d")
    if a is not None and d is not None:
        ta, td = a["time_to_95_median_s"], d["time_to_95_median_s"]
        measured = f"(a) {_seconds(ta)} vs (d) {_seconds(td)}"
        met = ta is not None and (td is None or ta <= 0.5 * td)
    else:
        measured, met = "arm (a) or (d) not run", None
    rows.append(
        ("time to 95% of the best hypervolume: (a) <= 0.5x random search (d)", measured, met)
    )

    if overhead and overhead.get("configs"):
        measured = (
            f"{overhead['search_per_hour']:.1f} vs {overhead['bare_per_hour']:.1f} trials/h: "
            f"{overhead['ratio']:.3f}x"
        )
        met = overhead["ratio"] >= 0.95
    else:
        measured, met = "no completed trial of arm (c) to compare", None
    rows.append(
        ("trials per hour >= 0.95x the bare Keras loop (same configurations)", measured, met)
    )

    if memory and memory.get("ratio") is not None:
        peaks = memory["peak_pss_mb"]
        measured = f"{peaks['2']:.0f} MiB vs {peaks['1']:.0f} MiB: {memory['ratio']:.2f}x"
        met = memory["ratio"] <= 1.5
    else:
        measured, met = "not run", None
    rows.append(("peak memory with 2 trials <= 1.5x with 1", measured, met))
    return [{"target": t, "measured": m, "status": _status(ok)} for t, m, ok in rows]


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.0f} s"
