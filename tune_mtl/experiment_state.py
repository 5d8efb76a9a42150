"""Ray's saved state of a search, mended where a killed driver left it half-copied.

Ray Tune saves the state of an experiment (its trials, the searcher) to a staging folder on the
driver's machine, then copies those files one by one to the experiment's storage. A driver killed
during that copy leaves a truncated file in storage, and `Tuner.restore` cannot decode it. The
staging folder outlives the driver, so before a search is restored, a set of state files with an
unreadable member is replaced by its staging copy, when that copy reads whole.
"""

from __future__ import annotations

import fnmatch
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs
from ray._common.utils import get_default_ray_temp_dir

from tune_mtl.cluster import Storage
from tune_mtl.errors import TuneMtlError

# The files Ray Tune writes for one driver session, all restored together, and how each is
# decoded (Ray pickles the search generator's state despite its name).
STATE_FILES: dict[str, Callable[[bytes], object]] = {
    "experiment_state-{}.json": json.loads,
    "search_gen_state-{}.json": pickle.loads,
    "searcher-state-{}.pkl": pickle.loads,
}
_EXPERIMENT_STATE = "experiment_state-{}.json"


def mend_experiment_state(storage: Storage, name: str) -> list[str]:
    """Replaces the newest state files of experiment ``name`` with their staging copies when one
    of them cannot be read; returns the names of the files replaced (none when all read whole).

    Raises:
        TuneMtlError: a file cannot be read and no whole staging copy is left on this machine.
    """
    filesystem = storage.filesystem or pyarrow.fs.LocalFileSystem()
    experiment_path = storage.experiment_path(name)
    listed = filesystem.get_file_info(
        pyarrow.fs.FileSelector(experiment_path, allow_not_found=True)
    )
    names = {info.base_name for info in listed if info.type == pyarrow.fs.FileType.File}
    states = fnmatch.filter(names, _EXPERIMENT_STATE.format("*"))
    if not states:
        return []
    newest = max(states)  # the session string is a timestamp; Ray restores the newest the same way
    session = newest.removeprefix("experiment_state-").removesuffix(".json")
    decoders = {pattern.format(session): decode for pattern, decode in STATE_FILES.items()}
    stored = {
        file: _read(filesystem, f"{experiment_path}/{file}") for file in decoders if file in names
    }
    broken = sorted(file for file, content in stored.items() if not _whole(decoders[file], content))
    if not broken:
        return []
    for staging in _staging_folders(name, newest):
        copies = {
            file: (staging / file).read_bytes() for file in stored if (staging / file).is_file()
        }
        if copies.keys() == stored.keys() and all(
            _whole(decoders[file], content) for file, content in copies.items()
        ):
            for file, content in copies.items():
                _write(filesystem, f"{experiment_path}/{file}", content)
            return broken
    raise TuneMtlError(
        f"--resume {storage.location(name)}: Ray's saved state ({', '.join(broken)}) was cut "
        "short when the search was killed, and no whole copy is left on this machine; start the "
        "search again with `tune-mtl search`."
    )


def _staging_folders(name: str, experiment_state: str) -> list[Path]:
    """Ray's staging folders of experiment ``name`` on this machine that hold ``experiment_state``,
    newest first."""
    pattern = f"session_*/artifacts/*/{name}/driver_artifacts/{experiment_state}"
    found = Path(get_default_ray_temp_dir()).glob(pattern)
    return [
        path.parent for path in sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)
    ]


def _whole(decode: Callable[[bytes], object], content: bytes) -> bool:
    """Whether a state file decodes, which a file cut short does not."""
    try:
        decode(content)
    except (ValueError, EOFError, pickle.UnpicklingError):
        return False
    return True


def _read(filesystem: pyarrow.fs.FileSystem, path: str) -> bytes:
    with filesystem.open_input_stream(path) as stream:
        return stream.readall()


def _write(filesystem: pyarrow.fs.FileSystem, path: str, content: bytes) -> None:
    """Writes next to ``path``, then moves into place, so a reader never sees half a file."""
    partial = f"{path}.partial"
    with filesystem.open_output_stream(partial) as stream:
        stream.write(content)
    filesystem.move(partial, path)
