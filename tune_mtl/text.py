"""Counts in the words of tune-mtl's messages: ``1 trial``, ``3 trials``, ``0.5 GPUs``."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: float, noun: str) -> str:
    """``count`` and ``noun``, plural unless the count is exactly one."""
    return f"{count:g} {noun}{'' if count == 1 else 's'}"
