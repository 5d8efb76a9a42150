"""One plain line per finished trial, so a search shows where it is without Ray's verbose table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.tune import Callback

__all__ = ["ProgressPrinter"]


class ProgressPrinter(Callback):
    """Prints ``[done/total] trial ID STATUS ...`` as each trial completes, stops or fails."""

    def __init__(
        self,
        *,
        total: int,
        max_epochs: int,
        task_names: tuple[str, str],
        echo: Callable[[str], Any],
    ) -> None:
        self._total = total
        self._max_epochs = max_epochs
        self._task_names = task_names
        self._echo = echo
        self._done = 0

    def _line(self, trial: Any, status: str, detail: str) -> None:
        self._done += 1
        self._echo(
            f"[{self._done}/{self._total}] trial {trial.trial_id} {status} {detail}".rstrip()
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result
        epochs = result.get("training_iteration", 0)
        status = "completed" if epochs >= self._max_epochs else "stopped"
        accuracies = "  ".join(
            f"{name} {result.get(f'val_task{i}_accuracy', float('nan')):.4f}"
            for i, name in enumerate(self._task_names, start=1)
        )
        seconds = result.get("time_total_s", 0.0)
        self._line(trial, status, f"{accuracies}  ({epochs} epochs, {seconds:.0f} s)")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error = trial.get_error()
        self._line(trial, "failed", str(error).strip().splitlines()[-1] if error else "")
