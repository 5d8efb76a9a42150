"""Ray's state files that a killed driver left cut short in storage are replaced by the whole
copies in Ray's staging folder, or the resume stops with a one-line reason."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from tune_mtl.cluster import resolve_storage
from tune_mtl.errors import TuneMtlError
from tune_mtl.experiment_state import mend_experiment_state

SESSION = "2026-12-01_17-00-50"
FILES = {
    f"experiment_state-{SESSION}.json": json.dumps({"trial_data": list(range(500))}).encode(),
    f"search_gen_state-{SESSION}.json": pickle.dumps({"counter": 5}),
    f"searcher-state-{SESSION}.pkl": pickle.dumps({"study": list(range(500))}),
}
STATE = f"experiment_state-{SESSION}.json"


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The experiment folder in storage and Ray's staging folder, both holding whole files."""
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "tmp"))
    experiment = tmp_path / "results" / "exp"
    staging = (
        tmp_path / "tmp" / "ray" / "session_x" / "artifacts" / SESSION / "exp" / "driver_artifacts"
    )
    for folder in (experiment, staging):
        folder.mkdir(parents=True)
        for name, content in FILES.items():
            (folder / name).write_bytes(content)
    return experiment, staging


def _mend(experiment: Path) -> list[str]:
    return mend_experiment_state(resolve_storage(None, default=experiment.parent), "exp")


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_whole_files_are_left_as_they_are(folders: tuple[Path, Path]) -> None:
    experiment, staging = folders
    (staging / STATE).write_bytes(b"{}")
    assert _mend(experiment) == []
    assert (experiment / STATE).read_bytes() == FILES[STATE]


@pytest.mark.parametrize("cut", sorted(FILES))
def test_a_file_cut_short_is_replaced_by_the_staging_copy(
    folders: tuple[Path, Path], cut: str
) -> None:
    experiment, _ = folders
    _cut_short(experiment / cut)
    assert _mend(experiment) == [cut]
    for name, content in FILES.items():
        assert (experiment / name).read_bytes() == content
    assert sorted(path.name for path in experiment.iterdir()) == sorted(FILES)


def test_the_newest_session_is_the_one_mended(folders: tuple[Path, Path]) -> None:
    experiment, _ = folders
    older = experiment / "experiment_state-2026-11-30_09-00-00.json"
    older.write_bytes(b'{"trial_data": [')
    assert _mend(experiment) == []
    assert older.read_bytes() == b'{"trial_data": ['


def test_without_a_whole_staging_copy_the_resume_stops(folders: tuple[Path, Path]) -> None:
    experiment, staging = folders
    _cut_short(experiment / STATE)
    _cut_short(staging / STATE)
    with pytest.raises(TuneMtlError) as raised:
        _mend(experiment)
    assert str(raised.value) == (
        f"--resume {experiment}: Ray's saved state ({STATE}) was cut short when the search was "
        "killed, and no whole copy is left on this machine; start the search again with "
        "`tune-mtl search`."
    )
    assert (experiment / STATE).stat().st_size == len(FILES[STATE]) // 2  # nothing written


def test_a_folder_without_state_needs_no_mending(tmp_path: Path) -> None:
    assert _mend(tmp_path / "exp") == []
