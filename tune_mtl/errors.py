"""The two kinds of failure.

A `TuneMtlError` stops the whole run: bad flags, a bad search-space file, missing data. The
CLI prints its message as one line and exits with code 2. A `TrialDivergedError` fails one
trial only; the search records it and goes on.
"""

from __future__ import annotations

__all__ = ["TuneMtlError", "TrialDivergedError", "SearchInterrupted"]


class TuneMtlError(Exception):
    """The run cannot go on. The message names the value, where it came from, and the fix."""


class TrialDivergedError(RuntimeError):
    """A trial's loss became NaN or infinite, so the trial stops as failed."""


class SearchInterrupted(TuneMtlError):
    """The search stopped before every trial finished (Ctrl-C); its state is saved for resume."""
