"""Serves a search's folder with TensorBoard's own server."""

from __future__ import annotations

from pathlib import Path

from tensorboard import program

from tune_mtl.errors import TuneMtlError

__all__ = ["launch_tensorboard"]


def launch_tensorboard(experiment: str | Path, *, host: str = "127.0.0.1", port: int = 6006) -> str:
    """Starts TensorBoard on ``experiment`` in a background thread and returns its URL.

    It binds to ``host`` only: loopback unless asked otherwise. The process must stay alive for the
    server to keep serving.
    """
    experiment = Path(experiment)
    if not experiment.is_dir():
        raise TuneMtlError(
            f"{experiment} is not a folder; pass a search's folder, e.g. results/NAME."
        )
    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", str(experiment), "--host", host, "--port", str(port)])
    try:
        return board.launch()
    except program.TensorBoardServerException as error:
        raise TuneMtlError(f"TensorBoard cannot serve on {host}:{port} ({error.msg}); "
                           "pass another --port.") from error  # fmt: skip
