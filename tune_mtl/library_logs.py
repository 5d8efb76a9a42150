"""Log lines of Ray and Optuna that tune-mtl says its own way, kept off the terminal meanwhile.

Each entry names a logger and the starts of the messages to drop; every other message of that
logger, and of every other logger, goes through as before.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping

__all__ = ["SEARCH_WORDS", "START_WORDS", "dropping"]

# While a search runs: how to resume it (tune-mtl prints its `--resume` command; Ray's word
# that Ctrl-C was received, and that a second one forces the end, still reaches the user), that
# a resumed run restores its state (tune-mtl says it resumes), that trials
# which never started have no results yet, where Ray wrote the experiment (tune-mtl says where
# the results are), which trials failed (tune-mtl says so for each, and counts them under the
# front), and that the Optuna study was created.
SEARCH_WORDS: dict[str, tuple[str, ...]] = {
    "ray.tune.tune": (
        "Experiment has been interrupted",
        "Wrote the latest version of all result files",
        "Trials did not complete",
    ),
    "ray.tune.execution.tune_controller": ("Restoring the run from the latest experiment state",),
    "ray.tune.analysis.experiment_analysis": ("Failed to fetch metrics for",),
    "optuna.storages.journal._storage": ("A new study created",),
}
# While tune-mtl starts Ray or connects to one: it says itself how many CPUs and GPUs that Ray
# has, the Ray it starts on loopback for itself keeps Ray's default, token authentication, without
# asking the user to choose, and the files of the user's loader and builder go to the workers
# as a matter of course (README, "Run on a cluster").
START_WORDS: dict[str, tuple[str, ...]] = {
    "ray._private.worker": ("Started a local Ray instance",),
    "ray._private.authentication.authentication_token_setup": ("Token authentication is enabled",),
    "ray._private.runtime_env.packaging": (
        "Creating a file package",
        "Pushing file package",
        "Successfully pushed file package",
    ),
}


@contextlib.contextmanager
def dropping(words: Mapping[str, tuple[str, ...]]) -> Iterator[None]:
    """Drops the messages ``words`` names (logger name to message starts) inside the block."""

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(words.get(record.name, ()))

    loggers = [logging.getLogger(name) for name in words]
    for logger in loggers:
        logger.addFilter(keep)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(keep)
