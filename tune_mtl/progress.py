"""Progress of a running search: a live block on a terminal, one plain line per finished trial.

Every finished trial prints one line that scripts can parse (``PROGRESS_LINE`` matches it)::

    [3/50] trial 5bd59862 stopped item 0.8727  group 0.9738  (4 epochs, 31 s) | 2 running \
| front 1, val hypervolume 0.5068 | elapsed 0:02:10, ETA 0:34:40

On a terminal, a compact block under those lines is redrawn in place as trials report epochs:
trials finished, running, pending and failed of the total, elapsed time and ETA, the best validation
metric of each task so far, and the front's size and validation hypervolume.

The ETA is the pace of the finished trials times the trials left, or the time budget left if that
is sooner.
"""

from __future__ import annotations

import math
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ray.tune import Callback

from tune_mtl.objectives import Objectives
from tune_mtl.pareto import hypervolume, pareto_mask
from tune_mtl.results import trial_status
from tune_mtl.text import counted, error_line

__all__ = ["SearchProgress", "LiveBlock", "PROGRESS_LINE", "format_duration"]

PROGRESS_LINE = re.compile(
    r"^\[(?P<done>\d+)/(?P<total>\d+)\] trial (?P<trial_id>\S+) "
    r"(?P<status>completed|stopped|failed) (?P<detail>.*) \| (?P<running>\d+) running \| "
    r"front (?P<front>\d+), "
    r"val hypervolume (?P<hypervolume>[0-9.]+) \| elapsed (?P<elapsed>[0-9:]+), "
    r"ETA (?P<eta>[0-9:]+|-)$"
)
REFRESH_SECONDS = 0.5


def _own_error(trial: Any) -> str | None:
    """A failed trial's error as Ray wrote it beside the Tune loop: there at once, while its copy
    in storage (`Trial.get_error`) may come later, when the trial has no restarts left."""
    path = Path(trial.error_file) if trial.error_file else None
    return path.read_text() if path is not None and path.is_file() else trial.get_error()


def traceback_note(trial: Any) -> str:
    """Where a failed trial's traceback is, inside the search's folder."""
    if not trial.error_file:
        return ""
    path = Path(trial.error_file)
    return f" (traceback: {path.parent.name}/{path.name})"


def format_duration(seconds: float) -> str:
    """``H:MM:SS``."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class LiveBlock:
    """A few lines at the bottom of a terminal, redrawn in place; finished lines scroll above."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._height = 0

    def clear(self) -> None:
        """Erases the block, so that a line printed next takes its place and scrolls above."""
        if self._height:
            # To the start of the block's first line, then erase to the end of the screen.
            self._stream.write(f"\x1b[{self._height}F\x1b[J")
            self._stream.flush()
            self._height = 0

    def show(self, lines: list[str]) -> None:
        width = max(20, shutil.get_terminal_size().columns - 1)
        self.clear()
        for line in lines:  # a wrapped line would break the count of lines to redraw
            self._stream.write(line[:width] + "\n")
        self._height = len(lines)
        self._stream.flush()

    def close(self) -> None:
        """Leaves the last block on screen; later output starts below it."""
        self._height = 0


class SearchProgress(Callback):
    """Reports a search's progress as trials start, report epochs, and complete, stop or fail.

    Each finished trial is one line through ``echo``; with ``live``, a block under those lines
    (``echo`` must write to the same terminal) shows the whole search and is refreshed at most
    every ``REFRESH_SECONDS``. ``on_front``
    receives the number of finished trials, the front size and its validation hypervolume after
    each (for TensorBoard's search curves).
    """

    def __init__(
        self,
        *,
        total: int,
        max_epochs: int,
        objectives: Objectives,
        echo: Callable[[str], Any],
        on_front: Callable[[int, int, float], Any] | None = None,
        live: LiveBlock | None = None,
        time_budget_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._total = total
        self._time_budget_s = time_budget_s
        self._max_epochs = max_epochs
        self._objectives = objectives
        self._echo = echo
        self._on_front = on_front
        self._live = live
        self._clock = clock
        self._started = clock()
        self._last_refresh = -float("inf")
        self._counts = {"completed": 0, "stopped": 0, "failed": 0}
        self._running: set[str] = set()
        self._pending = 0  # created, waiting for a worker or still starting one
        self._best: dict[str, tuple[float, str]] = {}
        # Maximised objective values of completed, feasible trials.
        self._completed: list[list[float]] = []
        self._seeded = False

    @property
    def finished(self) -> int:
        return sum(self._counts.values())

    def _front(self) -> tuple[int, float]:
        if not self._completed:
            return 0, 0.0
        size = int(pareto_mask(self._completed).sum())
        return size, hypervolume(self._completed, self._objectives.reference_point)

    def _times(self) -> tuple[str, str]:
        elapsed = self._clock() - self._started
        left = self._total - self.finished
        estimates = [] if left > 0 else [0.0]
        if self.finished and left > 0:
            estimates.append(elapsed / self.finished * left)
        if self._time_budget_s is not None:
            estimates.append(max(self._time_budget_s - elapsed, 0.0))
        eta = format_duration(min(estimates)) if estimates else "-"
        return format_duration(elapsed), eta

    def block(self) -> list[str]:
        """The live block's lines for the search as it stands."""
        counts = self._counts
        elapsed, eta = self._times()
        best = ", ".join(
            f"{name} {self._best[name][0]:.4f} ({self._best[name][1]})"
            if name in self._best
            else f"{name} -"
            for name in self._objectives.task_names
        )
        front_size, volume = self._front()
        return [
            f"Trials   {self.finished} of {self._total} done: {counts['completed']} completed, "
            f"{counts['stopped']} stopped, {counts['failed']} failed; "
            f"{len(self._running)} running, {self._pending} pending",
            f"Time     {elapsed} elapsed, ETA {eta}",
            f"Best val {best}",
            f"Front    {counted(front_size, 'trial')}, val hypervolume {volume:.4f}",
        ]

    def _refresh(self, *, force: bool = False) -> None:
        now = self._clock()
        if self._live is not None and (force or now - self._last_refresh >= REFRESH_SECONDS):
            self._live.show(self.block())
            self._last_refresh = now

    def _finish(self, trial: Any, *, detail: str) -> None:
        self._running.discard(trial.trial_id)
        front_size, volume = self._front()
        elapsed, eta = self._times()
        line = (
            f"[{self.finished}/{self._total}] trial {trial.trial_id} {detail}"
            f" | {len(self._running)} running | front {front_size}, "
            f"val hypervolume {volume:.4f} | elapsed {elapsed}, ETA {eta}"
        )
        if self._live is not None:
            self._live.clear()
        self._echo(line)
        self._refresh(force=True)
        if self._on_front is not None:
            self._on_front(self.finished, front_size, volume)

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        self._started = self._clock()  # the search itself starts now, after data and Ray

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._running.add(trial.trial_id)
        self._refresh(force=True)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        for task in self._objectives.tasks:
            value = result.get(task.column("val"))
            best = self._best.get(task.name)
            if value is not None and (best is None or task.sign * (value - best[0]) > 0):
                self._best[task.name] = (float(value), trial.trial_id)
        self._refresh()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._pending = sum(trial.status == "PENDING" for trial in trials)
        self._refresh()  # the elapsed time ticks on while every trial is mid-epoch

    def _record(self, trial: Any) -> tuple[str, str]:
        """Counts a trial that ended without an error; returns its status and its line's text."""
        result = trial.last_result
        epochs = result.get("training_iteration", 0)
        status = trial_status("TERMINATED", epochs=epochs, max_epochs=self._max_epochs)
        objectives = self._objectives
        feasible = not objectives.constraints or max(objectives.violations(result)) <= 0
        values = [result.get(column, float("nan")) for column in objectives.columns()]
        if status == "completed" and feasible and all(map(math.isfinite, values)):
            self._completed.append(list(objectives.signs * values))
        self._counts[status] += 1
        text = "  ".join(
            f"{task.name} {result.get(task.column('val'), float('nan')):.4f}"
            for task in objectives.tasks
        )
        seconds = result.get("time_total_s", 0.0)
        return status, f"{text}  ({counted(epochs, 'epoch')}, {seconds:.0f} s)"

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        # A resumed search starts with the trials that ended before it was interrupted.
        if self._seeded:
            return
        self._seeded = True
        for trial in trials:
            if trial.status == "TERMINATED":
                self._record(trial)
            elif trial.status == "ERROR":
                self._counts["failed"] += 1

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        status, detail = self._record(trial)
        self._finish(trial, detail=f"{status} {detail}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._counts["failed"] += 1
        self._finish(trial, detail=f"failed {error_line(_own_error(trial))}{traceback_note(trial)}")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._live is not None:
            self._live.show(self.block())
            self._live.close()
