"""TensorFlow's words about a GPU that the machine does not have, kept off the terminal.

On a Linux machine without NVIDIA's driver, importing TensorFlow prints ``I0000 ...
cudart_stub.cc:31] Could not find cuda drivers on your machine`` and its first look at the devices
``E0000 ... failed call to cuInit``. Both go through Abseil's logging: the first from static
initialisers, before TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` (even level 3 does not hide it),
the second at error level, which only level 3 hides, along with every real error. Abseil reads no
environment variable (``GLOG_minloglevel`` and the like do nothing), and ``CUDA_VISIBLE_DEVICES``
changes neither line. A user reads them as errors.

So `import_tensorflow_quietly` imports TensorFlow and lists its devices with the process's
stderr captured, then writes back all of it except those lines, the lines below
``TF_CPP_MIN_LOG_LEVEL`` that TensorFlow printed before reading it, and Abseil's note about them.
Where the driver exists it does nothing: TensorFlow says what it does with the GPU as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import re
import sys
import tempfile

__all__ = ["cuda_driver_missing", "drop_missing_gpu_lines", "import_tensorflow_quietly"]

# Abseil's prefix: severity, MMDD, time, thread, file:line].
_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:[\d.]+ +\d+ [^\]\s]+:\d+\] ")
_SEVERITIES = "IWEF"  # TF_CPP_MIN_LOG_LEVEL 0..3 hides the ones before it
_MISSING_GPU = re.compile(r"Could not find cuda drivers|failed call to cuInit")
_ABSL_NOTE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
)


def cuda_driver_missing() -> bool:
    """Whether this is Linux without NVIDIA's driver library, so no GPU can be used."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return True
    return False


def _min_log_level() -> int:
    value = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    return int(value) if value.isdigit() else 0


def drop_missing_gpu_lines(text: str, *, min_log_level: int = 0) -> str:
    """``text`` less the log lines about the missing GPU, those below ``min_log_level`` (each
    with the lines that continue its message) and Abseil's note that precedes them."""
    kept = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if line.rstrip("\r\n") == _ABSL_NOTE:
            continue
        match = _LOG_LINE.match(line)
        if match is not None:
            below = _SEVERITIES.index(match[1]) < min_log_level
            dropping = below or _MISSING_GPU.search(line) is not None
        if not dropping:
            kept.append(line)
    return "".join(kept)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and lists its devices without the lines about a missing GPU.

    Does nothing where NVIDIA's driver is installed or TensorFlow is imported already.
    TensorFlow's other output at import, and anything Python writes to stderr meanwhile, is
    written back once the import is done.
    """
    if "tensorflow" in sys.modules or not cuda_driver_missing():
        return
    sys.stderr.flush()
    python_output = io.StringIO()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            with contextlib.redirect_stderr(python_output):
                import tensorflow as tf

                tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            native = captured.read().decode(errors="replace")
            sys.stderr.write(drop_missing_gpu_lines(native, min_log_level=_min_log_level()))
            sys.stderr.write(python_output.getvalue())
            sys.stderr.flush()
