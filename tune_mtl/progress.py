"""Progress of a running search: one plain line per finished trial, with the front so far."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.tune import Callback

from tune_mtl.pareto import hypervolume_2d, pareto_mask

__all__ = ["SearchProgress", "error_line"]


def error_line(trial: Any) -> str:
    """The last line of a failed trial's error: the exception and its message."""
    error = trial.get_error()
    return str(error).strip().splitlines()[-1] if error else ""


class SearchProgress(Callback):
    """Prints ``[done/total] trial ID STATUS ...`` as each trial completes, stops or fails.

    Each line ends with the size and validation hypervolume of the front of completed trials so
    far; ``on_front`` receives the same numbers (for TensorBoard's search curves).
    """

    def __init__(
        self,
        *,
        total: int,
        max_epochs: int,
        task_names: tuple[str, str],
        chance: tuple[float, float],
        echo: Callable[[str], Any],
        on_front: Callable[[int, int, float], Any] | None = None,
    ) -> None:
        self._total = total
        self._max_epochs = max_epochs
        self._task_names = task_names
        self._chance = chance
        self._echo = echo
        self._on_front = on_front
        self._done = 0
        self._completed: list[tuple[float, float]] = []

    def _finish(self, trial: Any, status: str, detail: str) -> None:
        self._done += 1
        front_size = int(pareto_mask(self._completed).sum()) if self._completed else 0
        hypervolume = hypervolume_2d(self._completed, self._chance) if self._completed else 0.0
        self._echo(
            f"[{self._done}/{self._total}] trial {trial.trial_id} {status} {detail}"
            f" | front {front_size}, val hypervolume {hypervolume:.4f}"
        )
        if self._on_front is not None:
            self._on_front(self._done, front_size, hypervolume)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result
        epochs = result.get("training_iteration", 0)
        accuracies = tuple(result.get(f"val_task{i}_accuracy", float("nan")) for i in (1, 2))
        status = "completed" if epochs >= self._max_epochs else "stopped"
        if status == "completed":
            self._completed.append(accuracies)
        text = "  ".join(f"{n} {a:.4f}" for n, a in zip(self._task_names, accuracies, strict=True))
        seconds = result.get("time_total_s", 0.0)
        self._finish(trial, status, f"{text}  ({epochs} epochs, {seconds:.0f} s)")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, "failed", error_line(trial))
