"""From the raw runs to the benchmark's numbers: hypervolume over time, its log10 difference to
the best front known, time to reach the article loop's final hypervolume, throughput, the memory
ratio, and the issue's targets. Pure numpy over the JSON records.

A run (one arm, one seed) is a dict with ``budget_s``, ``objectives`` (`Objectives.to_dict`: the
tasks with their metric, direction and reference value), ``trials`` (each with ``status``,
``end_s``, and ``val`` and ``test`` metrics in the order of the tasks) and ``samples`` (``[t, tree
CPU s, machine busy s, PSS MiB or None]``).

The hypervolume's reference point is each task's constant predictor (`Dataset.references`), not
chance accuracy. Runs recorded before tune-mtl had named tasks hold ``chance`` instead of
``objectives``: two accuracies with chance accuracy as the reference point; they are read as
they were measured.

The runs of one record are on one data set. Its best front known is the Pareto front, on test
metrics, of every trial any arm completed within its budget on any seed; how far a run is from it
at time t is ``log10(best known hypervolume - hypervolume_at(run, t))``, with the same reference
point on both sides.
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
    "known_front",
    "best_known_hypervolume",
    "log_gap",
    "log_gap_curve",
    "cpu_at",
    "time_to_reach",
    "article_targets",
    "is_tie",
    "arm_summaries",
    "paired_differences",
    "search_slots",
    "memory_summary",
    "targets",
    "ARTICLE_ARM",
    "DEFAULT_ARM",
    "GAP_FLOOR",
]

# The arm whose final hypervolume the others race to: the article's loop over gamma.
ARTICLE_ARM = "e"
# The default search: TPE and ASHA on the mean improvement, as `search_spaces/default.yaml` sets.
DEFAULT_ARM = "b"
# log10 of a gap below this reads as this: a run that holds the best front known is 10^-4 away.
GAP_FLOOR = 1e-4


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


def known_front(runs: list[dict[str, Any]]) -> np.ndarray:
    """The best front known on the runs' data set: the non-dominated test metrics (maximised) of
    every trial that any run completed within its budget, as an ``(n, n_objectives)`` array."""
    points = []
    for run in runs:
        index, signs, _ = _objective_space(run)
        done = _completed_by(run, run["budget_s"])
        points += [np.asarray(trial["test"], dtype=float)[index] * signs for trial in done]
    if not points:
        return np.empty((0, 0))
    union = np.array(points)
    return union[pareto_mask(union)]


def best_known_hypervolume(run: dict[str, Any], front: np.ndarray) -> float:
    """The hypervolume of ``front`` (`known_front`) above ``run``'s reference point."""
    if len(front) == 0:
        return 0.0
    return hypervolume(front, _objective_space(run)[2])


def log_gap(run: dict[str, Any], t: float, front: np.ndarray) -> float:
    """``log10(best known hypervolume - hypervolume_at(run, t))``, the gap floored at `GAP_FLOOR`;
    NaN when nothing completed anywhere (no front known)."""
    best = best_known_hypervolume(run, front)
    if best <= 0:
        return float("nan")
    return _log10_gap(best, hypervolume_at(run, t))


def _log10_gap(best: float, volume: float) -> float:
    return float(np.log10(max(best - volume, GAP_FLOOR)))


def log_gap_curve(run: dict[str, Any], front: np.ndarray) -> list[tuple[float, float]]:
    """`log_gap` at the start and at every completion within the budget: a falling staircase."""
    best = best_known_hypervolume(run, front)
    if best <= 0:
        return [(0.0, float("nan"))]
    return [(t, _log10_gap(best, volume)) for t, volume in hypervolume_curve(run)]


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


def article_targets(runs: list[dict[str, Any]]) -> dict[int, float]:
    """Per seed, the final hypervolume of the article's loop (arm (e)), where it completed a
    trial: what the other arms race to."""
    return {
        run["seed"]: volume
        for run in runs
        if run["arm"] == ARTICLE_ARM and (volume := hypervolume_at(run, run["budget_s"])) > 0
    }


def is_tie(one: tuple[float, float], other: tuple[float, float]) -> bool:
    """Whether two (mean, sd) differ by no more than the larger of the two sds: within the spread
    over seeds, so neither is ahead (as `benchmarks/weighting.py` calls it)."""
    return abs(one[0] - other[0]) <= max(one[1], other[1])


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


def _median_of(values: list[float]) -> float:
    """Median, NaN if any value is (no front known)."""
    if not values or any(v != v for v in values):
        return float("nan")
    return float(statistics.median(values))


def arm_summaries(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arm, over seeds: final hypervolume and its log10 difference to the best front known,
    time (and CPU) to reach the article loop's final hypervolume on that seed, trials per hour,
    CPU seconds and peak memory."""
    front = known_front(runs)
    article = article_targets(runs)
    summaries: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(run["arm"] for run in runs):
        arm_runs = [run for run in runs if run["arm"] == arm]
        finals, gaps, cpus = [], [], []
        times: dict[int, float | None] = {}
        completed, finished, cpu_used, other_load, peaks = [], [], [], [], []
        for run in arm_runs:
            budget = run["budget_s"]
            finals.append(hypervolume_at(run, budget))
            gaps.append(log_gap(run, budget, front))
            target = article.get(run["seed"])
            if target is not None:
                reached = time_to_reach(hypervolume_curve(run), target)
                times[run["seed"]] = reached
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
            "final_log_gap": gaps,
            "final_log_gap_median": _median_of(gaps),
            # By seed, for the seeds where arm (e) completed a trial; None: never reached.
            "time_to_article_s": times,
            "time_to_article_median_s": _median(list(times.values())),
            "cpu_to_article_median_s": _median(cpus),
            "reached": sum(t is not None for t in times.values()),
            "completed_per_hour": statistics.fmean(completed),
            "finished_per_hour": statistics.fmean(finished),
            "tree_cpu_s": statistics.fmean(cpu_used),
            "other_load_cpus": statistics.fmean(other_load),
            "peak_pss_mb": statistics.fmean(peaks),
        }
    return summaries


def paired_differences(summaries: dict[str, dict[str, Any]], arm: str) -> dict[str, dict[str, Any]]:
    """Per other arm, on the seeds both ran: ``arm``'s final hypervolume less the other's, seed by
    seed, on how many seeds ``arm`` is above, and the differences' mean and sd.

    A seed sets the data's split and the models' seeds for every arm alike, so it moves every
    arm's hypervolume together; the spread over seeds of one arm (`is_tie`) holds that movement,
    the differences on one seed do not.
    """
    own = dict(zip(summaries[arm]["seeds"], summaries[arm]["final_hypervolume"], strict=True))
    paired: dict[str, dict[str, Any]] = {}
    for other, summary in summaries.items():
        if other == arm:
            continue
        theirs = dict(zip(summary["seeds"], summary["final_hypervolume"], strict=True))
        differences = [own[seed] - theirs[seed] for seed in own if seed in theirs]
        paired[other] = {
            "differences": differences,
            "above": sum(difference > 0 for difference in differences),
            "mean_sd": _mean_sd(differences),
        }
    return paired


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


def memory_summary(peaks: dict[int, float]) -> dict[str, Any]:
    """Peak PSS of the short searches with 1 and 2 trials at once, and their ratio."""
    one, two = peaks.get(1), peaks.get(2)
    return {
        "peak_pss_mb": {str(k): v for k, v in peaks.items()},
        "ratio": two / one if one and two else None,
    }


def _status(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "missed")


def _against(arm: str, own: tuple[float, float], other: tuple[float, float]) -> str:
    if is_tie(own, other):
        return "tie"
    return f"({arm}) ahead" if own[0] > other[0] else f"({arm}) behind"


def _ahead_of_the_others(summaries: dict[str, dict[str, Any]], arm: str) -> tuple[str, str]:
    """Measured text and status of "arm's final test hypervolume >= every other arm's"."""
    own_summary = summaries.get(arm)
    others = {other: s for other, s in summaries.items() if other != arm}
    if own_summary is None or not others:
        return f"arm ({arm}) or the others not run", _status(None)
    if not own_summary["completed_per_hour"]:
        return f"arm ({arm}) completed no trial within its budget", _status(None)
    own = own_summary["final_hypervolume_mean_sd"]
    verdicts = {
        other: _against(arm, own, s["final_hypervolume_mean_sd"]) for other, s in others.items()
    }
    measured = f"({arm}) {own[0]:.4f} ± {own[1]:.4f} vs " + ", ".join(
        f"({other}) {s['final_hypervolume_mean_sd'][0]:.4f} ± "
        f"{s['final_hypervolume_mean_sd'][1]:.4f}: {verdicts[other]}"
        for other, s in others.items()
    )
    if f"({arm}) behind" in verdicts.values():
        return measured, "missed"
    return measured, "tie" if "tie" in verdicts.values() else "met"


def targets(
    summaries: dict[str, dict[str, Any]], memory: dict[str, Any] | None
) -> list[dict[str, str]]:
    """The targets, each with the numbers compared and met, missed, tie (within the spread over
    seeds, `is_tie`) or not measured: MO-ASHA (a) and the default search (b, `scheduler: asha`
    in `search_spaces/default.yaml`) ahead of every other arm, (a) twice as fast as random search
    to the article's result, and the memory of a second trial (the orchestration overhead is
    `benchmarks/overhead.py`'s)."""
    rows: list[tuple[str, str, str]] = []
    for arm, who in (("a", "(a)'s"), (DEFAULT_ARM, "the default search's (b)")):
        rows.append((
            f"{who} final test hypervolume >= every other arm's (mean ± sd over seeds; a "
            "difference within the larger sd is a tie)", *_ahead_of_the_others(summaries, arm),
        ))  # fmt: skip

    a = summaries.get("a")
    d = summaries.get("d")
    if a is None or d is None:
        measured, status = "arm (a) or (d) not run", _status(None)
    elif not a["time_to_article_s"]:
        measured, status = "arm (e) not run or completed no trial", _status(None)
    else:
        ta, td = a["time_to_article_median_s"], d["time_to_article_median_s"]
        measured = f"(a) {_seconds(ta)} vs (d) {_seconds(td)}"
        status = _status(ta is not None and (td is None or ta <= 0.5 * td))
    rows.append((
        "time to reach the article loop's (e) final hypervolume (median over seeds): (a) <= 0.5x "
        "random search (d)", measured, status,
    ))  # fmt: skip

    if memory and memory.get("ratio") is not None:
        peaks = memory["peak_pss_mb"]
        measured = f"{peaks['2']:.0f} MiB vs {peaks['1']:.0f} MiB: {memory['ratio']:.2f}x"
        status = _status(memory["ratio"] <= 1.5)
    else:
        measured, status = "not run", _status(None)
    rows.append(("peak memory with 2 trials <= 1.5x with 1", measured, status))
    return [{"target": t, "measured": m, "status": status} for t, m, status in rows]


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f} s"
