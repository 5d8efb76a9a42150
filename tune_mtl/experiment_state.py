"""Ray's saved state of a search, mended where a killed driver left it behind its trials.

Ray Tune saves the state of an experiment (its trials, the searcher) to a staging folder on the
driver's machine, then copies those files one by one to the experiment's storage. A driver killed
during that copy leaves a truncated file in storage, and `Tuner.restore` cannot decode it. The
staging folder outlives the driver, so before a search is restored, a set of state files with an
unreadable member is replaced by its staging copy, when that copy reads whole.

Ray also keeps one checkpoint per trial: it deletes a trial's previous checkpoint as soon as a new
one arrives, and names the new one in its saved state only at the state's next save. A driver
killed in between leaves a state that names a deleted checkpoint, and Ray cannot resume that
trial. The checkpoint that replaced it is the oldest newer one in the trial's folder, and whole
(Ray had taken it in); it is copied back under the deleted one's name, marked to report its epoch
again (`tune_mtl.trial_files.REPORT_AGAIN`).
"""

from __future__ import annotations

import fnmatch
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs
from ray import tune
from ray._common.utils import get_default_ray_temp_dir

from tune_mtl.cluster import Storage
from tune_mtl.errors import TuneMtlError
from tune_mtl.trial_files import REPORT_AGAIN, STATE_FILE

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


def put_back_named_checkpoints(storage: Storage, name: str) -> None:
    """Copies, for each trial whose saved state (readable: `mend_experiment_state`) names a
    deleted checkpoint, the checkpoint that replaced it back under the deleted one's name, its
    state file last."""
    filesystem = storage.filesystem or pyarrow.fs.LocalFileSystem()
    experiment = storage.experiment_path(name)
    analysis = tune.ExperimentAnalysis(experiment, storage_filesystem=storage.filesystem)
    for trial in analysis.trials:
        if trial.checkpoint is None:
            continue
        named = trial.checkpoint.path
        if _is_file(filesystem, f"{named}/{STATE_FILE}"):
            continue
        parent, base_name = named.rsplit("/", 1)
        newer = sorted(
            info.path
            for info in filesystem.get_file_info(pyarrow.fs.FileSelector(parent))
            if info.type == pyarrow.fs.FileType.Directory
            and info.base_name.startswith("checkpoint_")
            and info.base_name > base_name
        )
        if not newer:  # nothing to resume from: Ray reports the missing checkpoint
            continue
        filesystem.create_dir(named)
        files = filesystem.get_file_info(pyarrow.fs.FileSelector(newer[0]))
        for info in files:
            if info.base_name != STATE_FILE:
                filesystem.copy_file(info.path, f"{named}/{info.base_name}")
        state = json.loads(_read(filesystem, f"{newer[0]}/{STATE_FILE}"))
        _write(filesystem, f"{named}/{STATE_FILE}",
               json.dumps({**state, REPORT_AGAIN: True}).encode())  # fmt: skip


def _is_file(filesystem: pyarrow.fs.FileSystem, path: str) -> bool:
    return bool(filesystem.get_file_info(path).type == pyarrow.fs.FileType.File)


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
