"""tune-mtl's words for counts (``1 trial``, ``3 trials``, ``0.5 GPUs``) and for errors."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["counted", "error_line"]


def counted(count: float, noun: str) -> str:
    """``count`` and ``noun``, plural unless the count is exactly one."""
    return f"{count:g} {noun}{'' if count == 1 else 's'}"


def error_line(error: Any) -> str:
    """The last line of an error's text, where a traceback names the exception: its class without
    its module, and its message ("" for no text)."""
    if not error or not str(error).strip():
        return ""
    return re.sub(r"^[\w.]+\.(\w+: )", r"\1", str(error).strip().splitlines()[-1])
