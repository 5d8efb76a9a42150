"""The two kinds of failure.

A `TuneMtlError` stops the whole run: bad flags, a bad search-space file, missing data. The
CLI prints its message as one line and exits with code 2; for a `UserCodeError`, an exception
raised inside the user's loader or builder, it adds that ``--debug`` shows its traceback. A
`TrialDivergedError` fails one trial only; the search records it and goes on.
"""

from __future__ import annotations

__all__ = ["TuneMtlError", "UserCodeError", "TrialDivergedError", "SearchInterrupted"]


class TuneMtlError(Exception):
    """The run cannot go on. The message names the value, where it came from, and the fix."""


class UserCodeError(TuneMtlError):
    """The user's own code raised; the exception it raised is the ``__cause__``."""


class TrialDivergedError(RuntimeError):
    """A trial's loss became NaN or infinite, so the trial stops as failed."""


class SearchInterrupted(TuneMtlError):
    """The search stopped before every trial finished (Ctrl-C); its state is saved for resume."""
