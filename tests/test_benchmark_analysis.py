"""The benchmark's arithmetic on hand-made runs, and its /proc sampling on real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.analysis import (
    GAP_FLOOR,
    arm_summaries,
    best_known_hypervolume,
    cpu_at,
    hypervolume_at,
    hypervolume_curve,
    is_tie,
    known_front,
    log_gap,
    log_gap_curve,
    paired_differences,
    reference_point,
    search_slots,
    targets,
    time_to_reach,
)
from benchmarks.procfs import TreeSampler, descendants
from benchmarks.report import ARM_LABELS, LEGACY_ARM_LABELS, write_outputs
from tune_mtl.objectives import Objectives
from tune_mtl.pareto import hypervolume_2d, pareto_mask
from tune_mtl.tasks import Task

TASKS = (Task("item", classes=[f"c{i}" for i in range(10)]), Task("group", classes=["a", "b", "c"]))
# The constant predictors' validation accuracies: the hypervolume's reference point.
REFERENCE = [0.1, 0.4]
OBJECTIVES = Objectives.for_tasks(TASKS, REFERENCE).to_dict()


def _trial(
    end: float | None, val: list[float], test: list[float] | None, *, status: str = "completed",
    pid: int | None = 1, config: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": f"t{end}", "status": status, "epochs": 3, "end_s": end, "pid": pid,
        "trial_s": None if end is None else 5.0, "val": val, "test": test,
        "config": config or {"gamma": 0.5},
    }  # fmt: skip


def _run(arm: str, seed: int, trials: list[dict[str, Any]], budget: float = 100.0) -> dict:
    return {
        "arm": arm, "seed": seed, "budget_s": budget, "objectives": OBJECTIVES, "trials": trials,
        "fit_start_s": 2.0, "samples": [[0.0, 0.0, 0.0, 100.0], [budget, 2 * budget, 0.0, None]],
        "peak_pss_mb": 100.0,
    }  # fmt: skip


def test_the_front_is_chosen_on_validation_and_scored_on_test() -> None:
    run = _run("c", 0, [
        _trial(10, [0.8, 0.9], [0.7, 0.8]),
        _trial(20, [0.7, 0.95], [0.75, 0.9]),
        _trial(30, [0.6, 0.6], [0.9, 0.9]),  # dominated on validation: its good test never counts
        _trial(40, [0.9, 0.99], [0.5, 0.5], status="stopped"),  # never completed
        _trial(150, [0.95, 0.99], [0.95, 0.99]),  # after the budget
    ])  # fmt: skip
    expected = hypervolume_2d([[0.7, 0.8], [0.75, 0.9]], REFERENCE)
    assert expected == pytest.approx((0.75 - 0.1) * (0.9 - 0.4))  # (0.75, 0.9) dominates on test
    assert hypervolume_at(run, 100) == pytest.approx(expected)
    assert hypervolume_at(run, 1000) == pytest.approx(expected)  # capped at the budget
    assert hypervolume_at(run, 15) == pytest.approx(hypervolume_2d([[0.7, 0.8]], REFERENCE))
    assert hypervolume_at(run, 5) == 0.0
    curve = hypervolume_curve(run)
    assert [t for t, _ in curve] == [0.0, 10, 20, 30]
    assert time_to_reach(curve, 0.95 * expected) == 20
    assert time_to_reach(curve, 2 * expected) is None
    assert time_to_reach(curve, 0.0) is None


def test_hypervolume_matches_brute_force_on_random_runs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        val, test = rng.random((n, 2)), rng.random((n, 2))
        ends = rng.uniform(0, 120, n)
        run = _run(
            "c", 0, [_trial(e, list(v), list(t)) for e, v, t in zip(ends, val, test, strict=True)]
        )
        t = float(rng.uniform(0, 120))
        done = (ends <= min(t, 100)).nonzero()[0]
        want = 0.0
        if len(done):
            front = done[pareto_mask(val[done])]
            want = hypervolume_2d(test[front], REFERENCE)
        assert hypervolume_at(run, t) == pytest.approx(want)


def test_a_mean_absolute_error_is_minimised_from_its_constant_predictor() -> None:
    tasks = (TASKS[0], Task("size", kind="regression"))
    run = {
        **_run("c", 0, [
            _trial(10, [0.8, 0.5], [0.7, 1.0]),
            _trial(20, [0.7, 0.4], [0.8, 1.5]),
            # Worse on validation in both (lower accuracy, larger error): never on the front,
            # however good its test metrics.
            _trial(30, [0.6, 0.9], [0.95, 0.1]),
            _trial(40, [0.9, 0.6], [0.9, 2.5]),  # on the front; its test error is above the reference
        ]),
        "objectives": Objectives.for_tasks(tasks, [0.1, 2.0]).to_dict(),
    }  # fmt: skip
    assert reference_point(run) == {"item accuracy": 0.1, "size MAE": 2.0}
    # Maximised: (0.7, -1.0) and (0.8, -1.5) above (0.1, -2.0): 0.6 x 1.0 + 0.1 x 0.5.
    assert hypervolume_at(run, 100) == pytest.approx(0.65)


def test_runs_recorded_with_chance_accuracy_keep_it_as_their_reference() -> None:
    trials = [_trial(10, [0.8, 0.9], [0.7, 0.8]), _trial(20, [0.7, 0.95], [0.75, 0.9])]
    run = {key: value for key, value in _run("c", 0, trials).items() if key != "objectives"}
    run.update(tasks=["item", "group"], chance=[0.1, 1 / 3])
    assert reference_point(run) == {"item accuracy": 0.1, "group accuracy": 1 / 3}
    want = hypervolume_2d([[0.7, 0.8], [0.75, 0.9]], [0.1, 1 / 3])
    assert hypervolume_at(run, 100) == pytest.approx(want)
    assert want != pytest.approx(hypervolume_at(_run("c", 0, trials), 100))


def test_slots_run_from_the_previous_end_on_the_same_worker() -> None:
    run = _run("c", 0, [
        _trial(30, [0.5, 0.5], [0.5, 0.5], pid=1, config={"gamma": 0.1}),
        _trial(35, [0.5, 0.5], [0.5, 0.5], pid=2, config={"gamma": 0.2}),
        _trial(62, [0.5, 0.5], [0.5, 0.5], pid=1, config={"gamma": 0.3}),
        _trial(70, [0.5, 0.5], [0.5, 0.5], pid=2, config={"gamma": 0.4}),
        _trial(None, [0.5, 0.5], None, pid=None, status="stopped"),
    ])  # fmt: skip
    slots = {s["config"]["gamma"]: (s["slot_s"], s["first_on_worker"]) for s in search_slots(run)}
    assert slots == {0.1: (28.0, True), 0.2: (33.0, True), 0.3: (32.0, False), 0.4: (35.0, False)}


def test_the_gap_is_to_the_front_of_every_arm_and_seed_on_test() -> None:
    runs = [
        _run("a", 0, [_trial(10, [0.9, 0.5], [0.8, 0.6]),
                      _trial(20, [0.5, 0.9], [0.6, 0.8])]),
        # Never on its own validation front, but on the union's test front: it counts.
        _run("c", 1, [_trial(10, [0.9, 0.9], [0.5, 0.5]),
                      _trial(30, [0.1, 0.1], [0.9, 0.5])]),
        _run("d", 0, [_trial(90, [0.9, 0.9], [0.95, 0.95], status="stopped"),  # never completed
                      _trial(150, [0.9, 0.9], [0.95, 0.95])]),  # after the budget
    ]  # fmt: skip
    front = known_front(runs)
    assert sorted(map(tuple, front.tolist())) == [(0.6, 0.8), (0.8, 0.6), (0.9, 0.5)]
    best = hypervolume_2d(front, REFERENCE)
    assert best == pytest.approx(0.8 * 0.1 + 0.7 * 0.1 + 0.5 * 0.2)
    assert best_known_hypervolume(runs[0], front) == pytest.approx(best)
    assert log_gap(runs[0], 100, front) == pytest.approx(
        np.log10(best - hypervolume_at(runs[0], 100))
    )
    assert log_gap(runs[0], 5, front) == pytest.approx(np.log10(best))  # nothing completed yet
    assert log_gap(runs[2], 100, front) == pytest.approx(np.log10(best))
    # Arm (c)'s validation front is its first trial, far below the union's front.
    assert log_gap(runs[1], 100, front) == pytest.approx(np.log10(best - 0.4 * 0.1))
    curve = log_gap_curve(runs[0], front)
    assert [t for t, _ in curve] == [0.0, 10, 20]
    assert [gap for _, gap in curve] == sorted((gap for _, gap in curve), reverse=True)
    # A run that holds the best front reads the floor; with no front known there is no gap.
    holder = _run("e", 0, [_trial(10, [0.9, 0.7], [0.9, 0.7])])
    assert log_gap(holder, 100, known_front([holder])) == pytest.approx(np.log10(GAP_FLOOR))
    nothing = _run("e", 0, [_trial(10, [0.9, 0.7], None, status="stopped")])
    assert np.isnan(log_gap(nothing, 100, known_front([nothing])))


def test_the_gap_matches_brute_force_on_random_runs() -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        runs, points = [], []
        for arm in "acd":
            for seed in range(int(rng.integers(1, 4))):
                n = int(rng.integers(0, 6))
                val, test, ends = rng.random((n, 2)), rng.random((n, 2)), rng.uniform(0, 120, n)
                runs.append(_run(arm, seed, [_trial(e, list(v), list(t))
                                             for e, v, t in zip(ends, val, test, strict=True)]))  # fmt: skip
                points += [t for t, e in zip(test, ends, strict=True) if e <= 100]
        front = known_front(runs)
        best = hypervolume_2d(np.array(points).reshape(-1, 2), REFERENCE)
        for run in runs:
            t = float(rng.uniform(0, 120))
            gap = best - hypervolume_at(run, t)
            assert gap >= -1e-12  # no run is beyond the front of all of them
            if best == 0:
                assert np.isnan(log_gap(run, t, front))
            else:
                assert log_gap(run, t, front) == pytest.approx(np.log10(max(gap, GAP_FLOOR)))


def test_summaries_and_targets() -> None:
    good = [_trial(10, [0.9, 0.9], [0.9, 0.9])]
    late = [_trial(80, [0.9, 0.9], [0.9, 0.9])]
    weak = [_trial(10, [0.5, 0.5], [0.5, 0.5])]
    article = [_trial(30, [0.7, 0.7], [0.7, 0.7])]
    runs = [_run("a", 0, good), _run("c", 0, weak), _run("d", 0, late), _run("e", 0, article)]
    summaries = arm_summaries(runs)
    # Arm (e)'s final hypervolume, (0.7 - 0.1) x (0.7 - 0.4), is what the others race to.
    assert summaries["a"]["time_to_article_s"] == {0: 10}
    assert summaries["a"]["time_to_article_median_s"] == 10
    assert summaries["c"]["time_to_article_median_s"] is None and summaries["c"]["reached"] == 0
    assert summaries["d"]["time_to_article_median_s"] == 80
    assert summaries["e"]["time_to_article_median_s"] == 30
    assert summaries["a"]["cpu_to_article_median_s"] == pytest.approx(cpu_at(runs[0], 10)) == 20
    assert summaries["a"]["completed_per_hour"] == pytest.approx(36)
    assert summaries["a"]["final_log_gap_median"] == pytest.approx(np.log10(GAP_FLOOR))
    assert summaries["e"]["final_log_gap"] == [pytest.approx(np.log10(0.8 * 0.5 - 0.6 * 0.3))]
    rows = targets(summaries, {"peak_pss_mb": {"1": 100, "2": 160}, "ratio": 1.6})
    # (a) and (d) end equal: a tie, which is not behind; the default search (b) was not run.
    assert [row["status"] for row in rows] == ["tie", "not measured", "met", "missed"]
    assert "(d) 0.4000 ± 0.0000: tie" in rows[0]["measured"]
    assert "(c) 0.0400 ± 0.0000: (a) ahead" in rows[0]["measured"]
    rows = targets(arm_summaries(runs[1:]), None)
    assert [row["status"] for row in rows] == ["not measured"] * 4
    assert rows[3]["measured"] == "not run"  # the memory check was left out (--no-checks)
    # Without arm (e) nothing sets the time to reach.
    no_article = arm_summaries(runs[:3])
    assert no_article["a"]["time_to_article_s"] == {}
    assert targets(no_article, None)[2]["status"] == "not measured"
    # An arm that completed nothing in its budget (the smoke preset's seconds) measures nothing.
    idle = arm_summaries([_run("a", 0, []), _run("b", 0, []), _run("d", 0, late)])
    rows = targets(idle, None)
    assert [row["status"] for row in rows[:2]] == ["not measured"] * 2
    assert rows[1]["measured"] == "arm (b) completed no trial within its budget"


def test_a_difference_within_the_larger_spread_is_a_tie() -> None:
    assert is_tie((0.50, 0.02), (0.51, 0.00)) and is_tie((0.51, 0.0), (0.50, 0.02))
    assert not is_tie((0.50, 0.01), (0.53, 0.01))
    assert is_tie((0.5, 0.0), (0.5, 0.0))
    seeds = [_run(arm, seed, [_trial(10, [v, v], [v, v])])
             for arm, values in {"a": (0.80, 0.84), "b": (0.83, 0.85), "c": (0.60, 0.61)}.items()
             for seed, v in enumerate(values)]  # fmt: skip
    summaries = arm_summaries(seeds)
    row, default = targets(summaries, None)[:2]
    # (b)'s mean is higher, but by less than (a)'s spread over the two seeds.
    assert row["status"] == "tie" and "(b)" in row["measured"] and "(c)" in row["measured"]
    assert default["target"].startswith("the default search's (b) final test hypervolume")
    assert (
        default["status"] == "tie"
        and "(b) 0.3257 ± 0.0167 vs (a) 0.3028 ± 0.0322: tie" in default["measured"]
    )
    assert "(c) 0.1035 ± 0.0050: (b) ahead" in default["measured"]
    behind = arm_summaries([r for r in seeds if r["arm"] != "b"] + [
        _run("b", seed, [_trial(10, [0.95, 0.95], [0.95, 0.95])]) for seed in (0, 1)])  # fmt: skip
    assert [row["status"] for row in targets(behind, None)[:2]] == ["missed", "met"]


def test_paired_differences_are_taken_seed_by_seed() -> None:
    # (b) is below (c)'s mean plus its spread over seeds, yet above it on every seed.
    values = {"b": (0.60, 0.70, 0.82), "c": (0.58, 0.69, 0.80), "a": (0.61, 0.69)}
    runs = [_run(arm, seed, [_trial(10, [v, v], [v, v])])
            for arm, row in values.items() for seed, v in enumerate(row)]  # fmt: skip
    summaries = arm_summaries(runs)
    assert targets(summaries, None)[1]["measured"].count("tie") == 2
    paired = paired_differences(summaries, "b")
    volume = {arm: [(v - 0.1) * (v - 0.4) for v in row] for arm, row in values.items()}
    assert paired["c"]["differences"] == pytest.approx(
        [b - c for b, c in zip(volume["b"], volume["c"], strict=True)]
    )
    assert paired["c"]["above"] == 3
    assert paired["c"]["mean_sd"][0] == pytest.approx(np.mean(paired["c"]["differences"]))
    assert paired["c"]["mean_sd"][1] == pytest.approx(np.std(paired["c"]["differences"], ddof=1))
    # Only the seeds both arms ran are paired.
    assert len(paired["a"]["differences"]) == 2 and paired["a"]["above"] == 1


def _record(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "command": "python benchmarks/search_efficiency.py --smoke", "started": "then",
        "finished": "now", "wall_s": 60.0, "runs": runs, "memory": {"1": 900.0, "2": 1200.0},
        "settings": {"budget_s": 100.0, "seeds": [0, 1], "dataset": "synthetic",
                     "model": "small", "max_epochs": 3, "examples_per_epoch": None,
                     "batch_size": 128, "concurrency": 2, "sample_interval_s": 1.0,
                     "memory_interval_s": 0.5, "memory_budget_s": 30.0},
        "machine": {"cpu_model": "test CPU", "logical_cpus": 2, "usable_cpus": 2,
                    "memory_gib": 4.0, "os": "Linux", "load_average_at_start": [0, 0, 0],
                    "versions": {"python": "3.11"}, "git_commit": "abc1234"},
    }  # fmt: skip


def test_the_page_has_one_row_per_arm_and_regenerates_from_json(tmp_path: Path) -> None:
    runs = [_run(arm, seed, [_trial(10 * seed + 5, [0.8, 0.8], [0.8, 0.7])])
            for seed in (0, 1) for arm in "bcef"]  # fmt: skip
    paths = write_outputs(_record(runs), tmp_path / "bench.md")
    page = paths["markdown"].read_text()
    rows = [line for line in page.splitlines() if line.startswith("| (")]
    assert [row.split(" | ")[0] for row in rows[:4]] == [f"| {ARM_LABELS[arm]}" for arm in "bcef"]
    assert ARM_LABELS["b"] == "(b) TPE + ASHA on the mean improvement (the default)"
    assert ARM_LABELS["f"] == "(f) KerasTuner Hyperband"
    assert "skipped" not in page
    assert "(bench.json)" in page and "![" in page and "1.33" in page
    paired = page[page.index("### The default, seed by seed") :].splitlines()
    assert paired[6].startswith(f"| {ARM_LABELS['c']} | +0.0000, +0.0000 | 0 of 2 |")
    assert "reference point is each task's constant predictor, not chance accuracy" in page
    assert "(`Dataset.references`): item accuracy 0.1000, group accuracy 0.4000." in page
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    done = subprocess.run(
        [sys.executable, "benchmarks/search_efficiency.py", "--from-json", str(paths["json"]),
         "--out", str(tmp_path / "again.md")],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = (tmp_path / "again.md").read_text()
    assert again == page.replace("bench.json", "again.json").replace("bench.png", "again.png")
    assert json.loads((tmp_path / "again.json").read_text())["runs"] == runs


def test_the_page_says_which_arm_was_skipped_and_why(tmp_path: Path) -> None:
    runs = [_run(arm, 0, [_trial(5, [0.8, 0.8], [0.8, 0.7])]) for arm in "ce"]
    record = {**_record(runs), "skipped": {"f": "arm (f) skipped: KerasTuner is not installed."}}
    page = write_outputs(record, tmp_path / "bench.md")["markdown"].read_text()
    assert "\nArm (f) skipped: KerasTuner is not installed.\n" in page
    assert ARM_LABELS["f"] not in page


def test_a_page_of_runs_recorded_with_chance_accuracy_says_so(tmp_path: Path) -> None:
    runs = [_run(arm, 0, [_trial(5, [0.8, 0.8], [0.8, 0.7])]) for arm in "bc"]
    for run in runs:
        del run["objectives"]
        run.update(tasks=["item", "group"], chance=[0.1, 1 / 3])
    page = write_outputs(_record(runs), tmp_path / "old.md")["markdown"].read_text()
    assert "reference point chance accuracy per task" in page
    assert "constant predictor" not in page
    assert f"| {LEGACY_ARM_LABELS['b']} | " in page and ARM_LABELS["b"] not in page
    assert f"| {hypervolume_2d([[0.8, 0.7]], [0.1, 1 / 3]):.4f} ± 0.0000 |" in page


def test_the_sampler_follows_a_process_tree(tmp_path: Path) -> None:
    # A child that starts a grandchild; both spin for about a second, then the grandchild ends.
    script = (
        "import subprocess, sys, time\n"
        "spin = 'import time\\nend = time.process_time() + 1.0\\n"
        "while time.process_time() < end: pass\\n'\n"
        "child = subprocess.Popen([sys.executable, '-c', spin])\n"
        "end = time.process_time() + 1.0\n"
        "while time.process_time() < end: pass\n"
        "child.wait()\n"
        "time.sleep(0.5)\n"
    )
    # The tree sampled is below a shell of its own, so that processes other tests left under
    # pytest never count in it.
    t0 = time.monotonic()
    process = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "$0"; true', script])
    sampler = TreeSampler(root=process.pid, t0=t0, interval=0.1)
    sampler.start()
    time.sleep(0.5)
    seen_during = descendants(os.getpid())
    process.wait()
    samples = sampler.stop()
    assert process.pid in seen_during and len(seen_during) >= 2
    # Two processes of ~1 CPU-second each, plus interpreter start-up; the grandchild's time is
    # kept after it ended.
    assert 1.8 <= samples[-1].tree_cpu_s <= 4.0
    assert sampler.processes_seen >= 2
    assert 5 < sampler.peak_pss_mb < 500
    assert [s.t for s in samples] == sorted(s.t for s in samples)
