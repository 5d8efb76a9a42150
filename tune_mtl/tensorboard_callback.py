"""Writes every trial's TensorBoard curves on the driver, from the results Ray Tune receives.

Trials only report; the driver writes. So the event files land in the search's folder whatever
node ran the trial, and a trial restarted on another node, or by a resumed search, continues its
curves at the next epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune import Callback

from tune_mtl.objectives import Objectives
from tune_mtl.tensorboard_log import TrialWriter
from tune_mtl.trial_files import trial_dir

__all__ = ["TensorBoardCallback"]


class TensorBoardCallback(Callback):
    """One TensorBoard run per trial (``trial_ID``) under ``root``, one step per epoch."""

    def __init__(self, root: Path, *, objectives: Objectives) -> None:
        self._root = root
        self._objectives = objectives
        self._writers: dict[str, TrialWriter] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles callbacks with the experiment; open event writers cannot be pickled.
        return {**self.__dict__, "_writers": {}}

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        epoch = int(result["training_iteration"])
        writer = self._writers.get(trial.trial_id)
        if writer is None:
            writer = TrialWriter(
                trial_dir(self._root, trial.trial_id),
                objectives=self._objectives,
                hparams=trial.config,
                trial_id=trial.trial_id,
                new_session=epoch == 1,
            )
            self._writers[trial.trial_id] = writer
        writer.epoch(epoch, result)

    def _close(self, trial: Any) -> None:
        writer = self._writers.pop(trial.trial_id, None)
        if writer is not None:
            writer.close()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial)
