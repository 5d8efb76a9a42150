"""Search progress: the parseable lines, the live block, and a real search's lines against trials.csv."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from tune_mtl.data import synthetic
from tune_mtl.objectives import Objectives
from tune_mtl.progress import (
    PROGRESS_LINE,
    LiveBlock,
    SearchProgress,
    format_duration,
)
from tune_mtl.tasks import Task
from tune_mtl.text import error_line

# shape (4 classes) and family (2 classes), each measured from its majority-class accuracy.
TWO_TASKS = Objectives.for_tasks(synthetic.TASKS, references=[0.25, 0.5])
SIZE = Task("size", kind="regression")
THREE_TASKS = (*synthetic.TASKS, SIZE)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def fake_trial(
    trial_id: str,
    epochs: int,
    values: Mapping[str, float],
    *,
    objectives: Objectives = TWO_TASKS,
    error: str = "",
) -> SimpleNamespace:
    """A Ray trial as the callback sees it: ``values`` per task name become its metric columns."""
    result: dict[str, float] = {"training_iteration": epochs, "time_total_s": 3.0 * epochs}
    result |= {objectives.task(name).column("val"): value for name, value in values.items()}
    error_file = f"/results/exp/trial_{trial_id}/error.txt" if error else None
    return SimpleNamespace(
        trial_id=trial_id, last_result=result, get_error=lambda: error, error_file=error_file
    )


def drive(progress: SearchProgress, clock: FakeClock) -> None:
    """Three trials on two workers: one completes, one is stopped early, one fails."""
    first = fake_trial("aaaa0001", 3, {"shape": 0.8, "family": 0.9})
    second = fake_trial("aaaa0002", 1, {"shape": 0.5, "family": 0.95})
    third = fake_trial("aaaa0003", 0, {"shape": float("nan"), "family": float("nan")},
                       error="TrialDivergedError: loss nan")  # fmt: skip
    progress.setup()
    progress.on_step_end(0, [SimpleNamespace(status="PENDING")] * 2)
    progress.on_trial_start(0, [], first)
    progress.on_trial_start(0, [], second)
    progress.on_trial_result(0, [], second, second.last_result)
    clock.now += 10
    progress.on_trial_complete(0, [], second)
    progress.on_trial_start(0, [], third)
    clock.now += 10
    progress.on_trial_result(0, [], first, first.last_result)
    progress.on_trial_complete(0, [], first)
    clock.now += 10
    progress.on_trial_error(0, [], third)
    progress.on_step_end(0, [])
    progress.on_experiment_end([])


def make_progress(
    lines: list[str],
    clock: FakeClock,
    live: LiveBlock | None = None,
    *,
    objectives: Objectives = TWO_TASKS,
    **options: float,
):
    fronts: list[tuple[int, int, float]] = []
    progress = SearchProgress(
        total=4, max_epochs=3, objectives=objectives, echo=lines.append,
        on_front=lambda *args: fronts.append(args), live=live, clock=clock, **options,
    )  # fmt: skip
    return progress, fronts


def test_plain_lines_parse_and_count() -> None:
    lines: list[str] = []
    clock = FakeClock()
    progress, fronts = make_progress(lines, clock)
    drive(progress, clock)

    parsed = [PROGRESS_LINE.match(line) for line in lines]
    assert all(parsed), lines
    rows = [m.groupdict() for m in parsed if m]
    assert [(r["done"], r["total"], r["trial_id"], r["status"]) for r in rows] == [
        ("1", "4", "aaaa0002", "stopped"),
        ("2", "4", "aaaa0001", "completed"),
        ("3", "4", "aaaa0003", "failed"),
    ]
    assert [r["running"] for r in rows] == ["1", "1", "0"]
    # Every task's validation metric, named by the task, with the trial's epochs and time.
    assert rows[1]["detail"] == "shape 0.8000  family 0.9000  (3 epochs, 9 s)"
    # Only the completed trial is on the front: (0.8 - 0.25) * (0.9 - 0.5) = 0.22.
    assert [(r["front"], r["hypervolume"]) for r in rows] == [
        ("0", "0.0000"), ("1", "0.2200"), ("1", "0.2200"),
    ]  # fmt: skip
    # 1 of 4 done after 10 s: 3 more at that pace take 30 s.
    assert [(r["elapsed"], r["eta"]) for r in rows] == [
        ("0:00:10", "0:00:30"), ("0:00:20", "0:00:20"), ("0:00:30", "0:00:10"),
    ]  # fmt: skip
    assert rows[2]["detail"] == "TrialDivergedError: loss nan (traceback: trial_aaaa0003/error.txt)"
    assert fronts == [(1, 0, 0.0), (2, 1, pytest.approx(0.22)), (3, 1, pytest.approx(0.22))]


def test_the_error_line_is_read_from_the_trials_own_file_before_storage_has_it(
    tmp_path: Path,
) -> None:
    error_file = tmp_path / "trial_aaaa0003" / "error.txt"
    error_file.parent.mkdir()
    error_file.write_text(
        "Failure # 1 (occurred at 2026-12-03_11-00-00)\nray::Trainable.train()\n"
        '  File "trainable.py", line 9\ntune_mtl.errors.TrialDivergedError: loss became nan\n'
    )
    lines: list[str] = []
    progress, _ = make_progress(lines, FakeClock())
    unsynced = SimpleNamespace(
        trial_id="aaaa0003", last_result={}, error_file=str(error_file), get_error=lambda: None
    )
    progress.on_trial_error(0, [], unsynced)
    (line,) = lines
    assert PROGRESS_LINE.match(line)["detail"] == (
        "TrialDivergedError: loss became nan (traceback: trial_aaaa0003/error.txt)"
    )
    assert error_line(None) == ""


def test_a_time_budget_caps_the_eta() -> None:
    lines: list[str] = []
    clock = FakeClock()
    progress, _ = make_progress(lines, clock, time_budget_s=25.0)
    drive(progress, clock)

    # The pace says 30 s, 20 s and 10 s more; the budget has 15 s, 5 s and 0 s left.
    etas = [match["eta"] for match in map(PROGRESS_LINE.match, lines) if match]
    assert etas == ["0:00:15", "0:00:05", "0:00:00"]


def test_live_block_redraws_in_place_under_the_lines(monkeypatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda: shutil.os.terminal_size((100, 30)))
    lines: list[str] = []
    clock = FakeClock()
    stream = TerminalStream()
    progress, _ = make_progress(lines, clock, live=LiveBlock(stream))
    drive(progress, clock)

    screen = stream.getvalue()
    assert "\x1b[4F\x1b[J" in screen  # the 4-line block is erased before each redraw
    final = screen.rsplit("\x1b[J", 1)[-1].splitlines()
    assert final == [
        "Trials   3 of 4 done: 1 completed, 1 stopped, 1 failed; 0 running, 0 pending",
        "Time     0:00:30 elapsed, ETA 0:00:10",
        "Best val shape 0.8000 (aaaa0001), family 0.9500 (aaaa0002)",
        "Front    1 trial, val hypervolume 0.2200",
    ]
    assert "0 running, 2 pending" in screen  # before the workers started
    assert "2 running" in screen  # drawn while both workers trained
    assert len(lines) == 3 and all(PROGRESS_LINE.match(line) for line in lines)


def run_one_at_a_time(progress: SearchProgress, clock: FakeClock, trials: list) -> None:
    """Each trial starts, reports its last epoch and ends, 10 s each, one after the other."""
    progress.setup()
    for trial in trials:
        progress.on_trial_start(0, [], trial)
        progress.on_trial_result(0, [], trial, trial.last_result)
        clock.now += 10
        progress.on_trial_complete(0, [], trial)


def three_task_trials(objectives: Objectives) -> list[SimpleNamespace]:
    """A and B trade shape and family against size; C (stopped) has the lowest size MAE; D is
    dominated by A and worse than the constant predictor on size."""
    values = {
        "aaaa000a": (3, {"shape": 0.8, "family": 0.9, "size": 1.5}),
        "aaaa000b": (3, {"shape": 0.7, "family": 0.8, "size": 0.5}),
        "aaaa000c": (1, {"shape": 0.6, "family": 0.6, "size": 0.3}),
        "aaaa000d": (3, {"shape": 0.3, "family": 0.55, "size": 2.5}),
    }
    return [
        fake_trial(trial_id, epochs, metrics, objectives=objectives)
        for trial_id, (epochs, metrics) in values.items()
    ]


def test_three_tasks_with_a_regression_task_minimise_its_mae() -> None:
    objectives = Objectives.for_tasks(THREE_TASKS, references=[0.25, 0.5, 2.0])
    lines: list[str] = []
    clock = FakeClock()
    progress, fronts = make_progress(lines, clock, objectives=objectives)
    run_one_at_a_time(progress, clock, three_task_trials(objectives))

    rows = [m.groupdict() for m in map(PROGRESS_LINE.match, lines) if m]
    assert len(rows) == 4
    assert [r["status"] for r in rows] == ["completed", "completed", "stopped", "completed"]
    assert rows[0]["detail"] == "shape 0.8000  family 0.9000  size 1.5000  (3 epochs, 9 s)"
    assert rows[2]["detail"] == "shape 0.6000  family 0.6000  size 0.3000  (1 epoch, 3 s)"
    # Boxes from the reference (0.25, 0.5, MAE 2.0): A 0.55 * 0.4 * 0.5 = 0.11; B adds
    # 0.45 * 0.3 * 1.5 = 0.2025 less their overlap 0.45 * 0.3 * 0.5 = 0.0675: 0.245 in all.
    # The stopped C and the dominated D leave the front as it was.
    assert [(r["front"], r["hypervolume"]) for r in rows] == [
        ("1", "0.1100"), ("2", "0.2450"), ("2", "0.2450"), ("2", "0.2450"),
    ]  # fmt: skip
    assert fronts[-1] == (4, 2, pytest.approx(0.245))
    # The best size is the smallest MAE seen, even from a trial that was stopped.
    assert progress.block()[2] == (
        "Best val shape 0.8000 (aaaa000a), family 0.9000 (aaaa000a), size 0.3000 (aaaa000c)"
    )


def test_a_trial_outside_a_constraint_stays_off_the_front() -> None:
    objectives = Objectives.for_tasks(
        THREE_TASKS, references=[0.25, 0.5, 2.0], constraints={"family": {"min": 0.85}}
    )
    assert objectives.objectives == ("shape", "size")
    lines: list[str] = []
    clock = FakeClock()
    progress, _ = make_progress(lines, clock, objectives=objectives)
    run_one_at_a_time(progress, clock, three_task_trials(objectives))

    rows = [m.groupdict() for m in map(PROGRESS_LINE.match, lines) if m]
    # Only A has family >= 0.85: its box on (shape, size) is 0.55 * 0.5. B, family 0.8, would
    # have added 0.45 * 1.5 - 0.45 * 0.5 = 0.45 had it been feasible.
    assert [(r["front"], r["hypervolume"]) for r in rows] == [("1", "0.2750")] * 4
    assert rows[1]["detail"].startswith("shape 0.7000  family 0.8000  size 0.5000")


def test_block_lines_are_cut_to_the_terminal_width(monkeypatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda: shutil.os.terminal_size((30, 20)))
    stream = TerminalStream()
    LiveBlock(stream).show(["x" * 80, "short"])
    assert stream.getvalue().splitlines() == ["x" * 29, "short"]


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.4, 61, 3600 * 2 + 5)] == [
        "0:00:00", "0:00:59", "0:01:01", "2:00:05",
    ]  # fmt: skip


@pytest.mark.e2e
def test_a_real_search_prints_parseable_lines_matching_trials_csv(synthetic_search) -> None:
    stdout = synthetic_search.stdout
    assert "\x1b[" not in stdout  # not a terminal: no live block
    assert "Loading synthetic" in stdout and "Starting Ray ..." in stdout

    rows = [m.groupdict() for m in map(PROGRESS_LINE.match, stdout.splitlines()) if m]
    trials = pd.read_csv(synthetic_search.path / "trials.csv", dtype={"trial_id": str})
    summary = json.loads((synthetic_search.path / "summary.json").read_text())
    assert [int(r["done"]) for r in rows] == list(range(1, len(trials) + 1))
    assert {int(r["total"]) for r in rows} == {len(trials)}
    by_id = trials.set_index("trial_id")
    assert sorted(r["trial_id"] for r in rows) == sorted(by_id.index)
    for row in rows:
        trial = by_id.loc[row["trial_id"]]
        assert row["status"] == trial["status"]
        shown = " ".join(row["detail"].split()).split(" (")[0]
        assert shown == (
            f"shape {trial['val_shape_accuracy']:.4f} family {trial['val_family_accuracy']:.4f}"
        )
        epochs = int(trial["epochs"])
        assert f"({epochs} epoch{'s' * (epochs != 1)}," in row["detail"]
    counts = pd.Series([r["status"] for r in rows]).value_counts().to_dict()
    assert counts == summary["status_counts"]
    assert rows[-1]["running"] == "0"
    assert int(rows[-1]["front"]) == summary["front_size"]
    assert float(rows[-1]["hypervolume"]) == pytest.approx(summary["hypervolume_val"], abs=1e-4)
