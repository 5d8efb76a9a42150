"""Serves a search's event files (``results/NAME/tensorboard``) with TensorBoard's own server."""

from __future__ import annotations

import contextlib
import errno
import io
import re
import socket
import sys
from pathlib import Path

from tensorboard import program

from tune_mtl.errors import TuneMtlError
from tune_mtl.quiet_tensorflow import import_tensorflow_quietly

__all__ = ["launch_tensorboard"]

# The paragraph TensorBoard prints when it picks its faster loader by itself: advice for its own
# users, about its own flags.
_LOADER_NOTE = re.compile(r"\n?NOTE: Using experimental fast data loading logic\..*?\n\n", re.S)


def launch_tensorboard(experiment: str | Path, *, host: str = "127.0.0.1", port: int = 6006) -> str:
    """Starts TensorBoard on ``experiment``'s event files in a background thread and returns its
    URL. Runs are named as the folders there: ``trial_ID`` per trial and ``search``.

    It binds to ``host`` only: loopback unless asked otherwise. The process must stay alive for the
    server to keep serving.
    """
    import_tensorflow_quietly()  # which the event files' module imports, as TensorBoard does

    from tune_mtl.tensorboard_log import TENSORBOARD_DIR

    logdir = Path(experiment) / TENSORBOARD_DIR
    if not logdir.is_dir():
        raise TuneMtlError(
            f"{experiment} has no {TENSORBOARD_DIR}/ folder of event files; pass the folder of a "
            "search, e.g. results/NAME."
        )
    _check_bindable(host, port)
    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", str(logdir), "--host", host, "--port", str(port)])
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return board.launch()
    except program.TensorBoardServerException as error:
        raise TuneMtlError(f"TensorBoard cannot serve on {host}:{port} ({error.msg}); "
                           "pass another --port.") from error  # fmt: skip
    finally:
        sys.stderr.write(_LOADER_NOTE.sub("", said.getvalue()))


def _check_bindable(host: str, port: int) -> None:
    """``host``:``port`` can be served on (TensorBoard's server exits the process otherwise)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            probe.bind(address)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        fix = (
            "pass another --port"
            if error.errno == errno.EADDRINUSE
            else "pass an address of this machine as --host, e.g. 127.0.0.1 (this machine "
            "only) or 0.0.0.0 (every interface)"
        )
        raise TuneMtlError(
            f"TensorBoard cannot serve on {host}:{port} ({reason}); {fix}."
        ) from error
