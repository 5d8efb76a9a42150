"""A search whose driver is interrupted (SIGINT) or killed (SIGKILL) and then resumed ends with
exactly the trials it was started with: none lost, none run twice, the Optuna study kept."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pandas as pd
import pytest
from ray import tune

from tests.conftest import CLI, cli_env, run_cli
from tests.schedulers.test_mo_asha import search_options
from tune_mtl.cluster import LOOPBACK_NODE_IP
from tune_mtl.data import synthetic
from tune_mtl.errors import TuneMtlError
from tune_mtl.experiment_state import STATE_FILES
from tune_mtl.options import ELAPSED_FILE
from tune_mtl.progress import PROGRESS_LINE
from tune_mtl.results import SEARCH_FILE
from tune_mtl.search import resume
from tune_mtl.space import default_space_path

TRIALS, EPOCHS = 5, 4
REPEAT_EPOCHS = 12
FINISHED_LINE = re.compile(r"^\[(\d+)/\d+\] trial (\w+) ")


def _start(tmp_path: Path) -> subprocess.Popen:
    args = [
        "search", "--data", "synthetic", "--scheduler", "none", "--concurrency", "1",
        "--trials", str(TRIALS), "--max-epochs", str(EPOCHS),
        "--results", str(tmp_path), "--name", "exp",
    ]  # fmt: skip
    return subprocess.Popen(
        [*CLI, *args], cwd=tmp_path, env=cli_env(), text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _finished_ids(search: subprocess.Popen, count: int) -> list[str]:
    """Reads progress lines until ``count`` trials have finished; returns their ids."""
    assert search.stdout is not None
    finished = []
    for line in search.stdout:
        match = FINISHED_LINE.match(line)
        if match:
            finished.append(match.group(2))
            if len(finished) == count:
                return finished
    raise AssertionError(f"the search ended after {finished}: {search.stderr.read()[-3000:]}")


def _check_resumed(experiment: Path, finished_before: list[str]) -> str:
    """Resumes the search and checks its trials and study; returns what it printed."""
    done = run_cli("search", "--resume", str(experiment), cwd=experiment.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resuming {experiment}" in done.stdout
    # Progress goes on counting from the trials that had ended, up to the total.
    lines = [match for line in done.stdout.splitlines() if (match := PROGRESS_LINE.match(line))]
    assert [int(match["done"]) for match in lines] == list(
        range(TRIALS - len(lines) + 1, TRIALS + 1)
    )
    assert not {match["trial_id"] for match in lines} & set(finished_before)
    trials = pd.read_csv(experiment / "trials.csv")
    assert len(trials) == TRIALS and trials["trial_id"].is_unique
    assert set(finished_before) <= set(trials["trial_id"])
    assert (trials["status"] == "completed").all()
    # Where each ran, also the trials of the Ray session before the resume.
    assert (trials["node_ip"] == LOOPBACK_NODE_IP).all(), trials["node_ip"]
    # Every task's validation metric, for the trials run before and after the interruption.
    val_columns = [task.column("val") for task in synthetic.TASKS]
    assert val_columns == ["val_shape_accuracy", "val_family_accuracy"]
    assert trials[val_columns].notna().all().all()
    for trial_id in trials["trial_id"]:
        epochs = _epochs_reported(experiment / f"trial_{trial_id}" / "result.json")
        assert epochs == list(range(1, EPOCHS + 1)), (trial_id, epochs)
    study = optuna.load_study(
        study_name="exp",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(experiment / "optuna.journal"))
        ),
    )
    states = [trial.state.name for trial in study.trials]
    assert "RUNNING" not in states
    assert states.count("COMPLETE") == TRIALS
    # Trials that Ray Tune never recorded (a killed driver) are told to Optuna as failed.
    assert set(states) <= {"COMPLETE", "FAIL"}
    return done.stdout


def _epochs_reported(result: Path) -> list[int]:
    """The epochs in a trial's result.json, in order, each once: a trial resumed from a
    checkpoint that Ray's saved state did not name yet reports that epoch again."""
    reports = [json.loads(line) for line in result.read_text().splitlines()]
    assert [report["training_iteration"] for report in reports] == [
        report["epoch"] for report in reports
    ]
    return list(dict.fromkeys(report["epoch"] for report in reports))


def _stop_leftovers(search: subprocess.Popen) -> None:
    try:
        os.killpg(search.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_the_resume_command_names_the_cluster_given_with_address(tmp_path: Path) -> None:
    options = replace(search_options("asha"), results=tmp_path, name="exp")
    local = options.interrupted("1 of 4 trials finished")
    assert str(local) == (
        "search interrupted with 1 of 4 trials finished; its state is saved. Resume it with: "
        f"tune-mtl search --resume {tmp_path / 'exp'}"
    )
    cluster = replace(options, address="127.0.0.2:6390").interrupted("1 of 4 trials finished")
    assert str(cluster).endswith(f"--resume {tmp_path / 'exp'} --address 127.0.0.2:6390")
    script = replace(options, address="127.0.0.2:6390", data=None).interrupted("1 of 4 trials")
    assert str(script).endswith(
        f"Resume it with: tune_mtl.resume({str(tmp_path / 'exp')!r}, data=..., "
        "address='127.0.0.2:6390') from Python"
    )


def test_resuming_a_search_of_a_scripts_function_asks_for_it_from_python(tmp_path: Path) -> None:
    options = replace(search_options("asha"), results=tmp_path, name="exp", model=None,
                      space=default_space_path())  # fmt: skip
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / SEARCH_FILE).write_text(options.to_json())
    with pytest.raises(TuneMtlError) as caught:
        resume(tmp_path / "exp")
    assert str(caught.value) == (
        f"{tmp_path / 'exp'} was searched with a model function defined in a notebook or script; "
        f"pass it again: tune_mtl.resume({str(tmp_path / 'exp')!r}, model=...) from Python."
    )


@pytest.mark.slow
def test_ctrl_c_saves_the_search_and_resume_completes_it(tmp_path: Path) -> None:
    search = _start(tmp_path)
    try:
        finished = _finished_ids(search, 2)
        search.send_signal(signal.SIGINT)
        _, stderr = search.communicate(timeout=300)
    finally:
        _stop_leftovers(search)
    assert search.returncode == 130, stderr[-3000:]
    experiment = tmp_path / "exp"
    message = stderr.strip().splitlines()[-1]
    assert message.endswith(f"Resume it with: tune-mtl search --resume {experiment}")
    assert not (experiment / "trials.csv").exists()
    _check_resumed(experiment, finished)


def test_a_killed_driver_is_resumed_without_losing_finished_trials(tmp_path: Path) -> None:
    """Also when the kill cut short Ray's copy of its state into the experiment folder."""
    search = _start(tmp_path)
    try:
        finished = _finished_ids(search, 2)
        time.sleep(4)  # the experiment state is saved every 2 s
        os.killpg(search.pid, signal.SIGKILL)
        search.wait(timeout=60)
    finally:
        _stop_leftovers(search)
    (state,) = (tmp_path / "exp").glob("experiment_state-*.json")
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    printed = _check_resumed(tmp_path / "exp", finished)
    assert f"{state.name} was cut short when the search was killed; its staging copy is used" in (
        printed
    )


def test_resume_refuses_a_folder_that_is_not_a_search(tmp_path: Path) -> None:
    done = run_cli("search", "--resume", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert f"--resume {tmp_path} has no search.json" in done.stderr


def test_resume_takes_no_other_settings(tmp_path: Path) -> None:
    done = run_cli("search", "--resume", str(tmp_path), "--trials", "3", cwd=tmp_path)
    assert done.returncode == 2
    assert "--trials was given too" in done.stderr


@pytest.mark.parametrize("flag", ["--max-failures", "--trials"])
def test_negative_counts_are_refused(tmp_path: Path, flag: str) -> None:
    done = run_cli("search", flag, "-1", cwd=tmp_path)
    assert done.returncode == 2 and flag in done.stderr


@pytest.mark.e2e
def test_a_search_interrupted_during_its_repeats_resumes_them(tmp_path: Path) -> None:
    """Ctrl-C while the front's candidates train again ends as Ctrl-C during the trials does.
    The extra runs that had finished are kept as they were; the others run; the front is on the
    means of all of them. An extra run takes seconds (batches of two), so Ctrl-C as the first
    finishes comes while the second runs."""
    args = [
        "search", "--data", "synthetic", "--scheduler", "none", "--concurrency", "1",
        "--trials", "2", "--max-epochs", str(REPEAT_EPOCHS), "--batch-size", "2",
        "--repeats", "3", "--results", str(tmp_path), "--name", "exp",
    ]  # fmt: skip
    search = subprocess.Popen(
        [*CLI, *args], cwd=tmp_path, env=cli_env(), text=True, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    runs = tmp_path / "exp-repeats"
    experiment = tmp_path / "exp"
    try:
        deadline = time.monotonic() + 300
        while not (finished := _finished_runs(runs)) and search.poll() is None:
            assert time.monotonic() < deadline, "no extra run finished within 300 s"
            time.sleep(0.1)
        assert search.poll() is None, "the search ended before it could be interrupted"
        search.send_signal(signal.SIGINT)
        _, stderr = search.communicate(timeout=300)
    finally:
        _stop_leftovers(search)
    assert search.returncode == 130, stderr[-3000:]
    (message,) = [line for line in stderr.splitlines() if line.startswith("search interrupted")]
    assert message.endswith(f"Resume it with: tune-mtl search --resume {experiment}")
    assert not (experiment / "summary.json").exists()
    kept = {path: path.read_text() for path in _finished_runs(runs)}
    assert set(finished) <= set(kept)
    ran_before = json.loads((experiment / ELAPSED_FILE).read_text())["seconds"]
    assert ran_before > 0

    resumed_at = time.monotonic()
    done = run_cli("search", "--resume", str(experiment), cwd=tmp_path)
    resumed_for = time.monotonic() - resumed_at
    assert done.returncode == 0, done.stderr[-3000:]
    # The wall time counts the run before Ctrl-C and the resumed one.
    wall = json.loads((experiment / "summary.json").read_text())["wall_seconds"]
    assert ran_before < wall < ran_before + resumed_for
    assert {path: path.read_text() for path in kept} == kept  # not trained again
    repeats = pd.read_csv(experiment / "repeats.csv", dtype={"trial_id": str})
    planned = repeats.groupby("trial_id")["seed"].apply(lambda seeds: tuple(sorted(seeds)))
    assert set(planned) == {(0, 1000, 2000)}
    # One Ray trial per extra run, each trained once through every epoch.
    trial_dirs = sorted(runs.glob("*/result.json"))
    assert len(trial_dirs) == 2 * len(planned)
    for result in trial_dirs:
        epochs = _epochs_reported(result)
        assert epochs == list(range(1, REPEAT_EPOCHS + 1)), (result, epochs)
    assert json.loads((experiment / "summary.json").read_text())["repeats"] == 3


def test_a_trial_whose_saved_checkpoint_was_replaced_resumes_from_the_newer_one(
    tmp_path: Path,
) -> None:
    """Ray deletes a trial's checkpoint when the next one arrives and names the new one in its
    saved state only afterwards: a driver killed in between leaves a state naming a deleted
    checkpoint. That state is rebuilt here from a copy taken while the trial ran: Ray saves its
    state after every event (period 0 s) and an epoch lasts a few tenths of a second (batches of
    one), so a copy taken every 0.1 s holds each checkpoint's state."""
    epochs = 12
    args = [
        "search", "--data", "synthetic", "--scheduler", "none", "--concurrency", "1",
        "--trials", "1", "--max-epochs", str(epochs), "--batch-size", "1",
        "--results", str(tmp_path), "--name", "exp",
    ]  # fmt: skip
    experiment = tmp_path / "exp"
    env = cli_env({**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0"})
    search = subprocess.Popen(
        [*CLI, *args], cwd=tmp_path, env=env, text=True, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    snapshots = []  # the state files' contents, taken every 0.1 s while the trial trains
    try:
        deadline = time.monotonic() + 300
        while _checkpoints(experiment)[:1] < ["checkpoint_000004"]:
            assert search.poll() is None and time.monotonic() < deadline
            snapshots.append({path.name: path.read_bytes() for path in _state_files(experiment)})
            time.sleep(0.1)
        os.killpg(search.pid, signal.SIGKILL)
        search.wait(timeout=60)
    finally:
        _stop_leftovers(search)
    # Checkpoint k holds epoch k + 1; the oldest left is the one Ray took in last.
    kept = int(_checkpoints(experiment)[0].removeprefix("checkpoint_"))
    # The kill may come before or after Ray wrote that epoch's line of result.json.
    before = _reports(experiment)
    assert before == [(epoch, epoch) for epoch in range(1, len(before) + 1)]
    assert len(before) in (kept, kept + 1)
    deleted = f"checkpoint_{kept - 1:06d}"
    assert not list(experiment.glob(f"trial_*/{deleted}"))
    for snapshot in reversed(snapshots):  # the newest saved state that names the deleted one
        for name, content in snapshot.items():
            (experiment / name).write_bytes(content)
        if _named_checkpoint(experiment) == deleted:
            break
    assert _named_checkpoint(experiment) == deleted

    done = run_cli("search", "--resume", str(experiment), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = pd.read_csv(experiment / "trials.csv")
    assert trials[["status", "epochs"]].values.tolist() == [["completed", epochs]]
    # The epoch of the checkpoint resumed from is reported again; Ray counts on from it.
    assert _reports(experiment) == [*before, *((e, e) for e in range(kept + 1, epochs + 1))]
    assert _checkpoints(experiment) == [f"checkpoint_{epochs - 1:06d}"]


def _reports(experiment: Path) -> list[tuple[int, int]]:
    """(Ray's iteration, the trial's epoch) of each line of the one trial's result.json."""
    (result,) = experiment.glob("trial_*/result.json")
    reports = [json.loads(line) for line in result.read_text().splitlines()]
    return [(report["training_iteration"], report["epoch"]) for report in reports]


def _checkpoints(experiment: Path) -> list[str]:
    """The names of the checkpoints in the experiment's trial folders, oldest first."""
    return sorted(path.name for path in experiment.glob("trial_*/checkpoint_*"))


def _named_checkpoint(experiment: Path) -> str | None:
    """The checkpoint that the experiment's saved state names for its one trial."""
    try:
        trial = tune.ExperimentAnalysis(str(experiment)).trials[0]
    except (ValueError, EOFError, pickle.UnpicklingError):  # a copy taken while Ray rewrote it
        return None
    return None if trial.checkpoint is None else Path(trial.checkpoint.path).name


def _state_files(experiment: Path) -> list[Path]:
    return [path for pattern in STATE_FILES for path in experiment.glob(pattern.format("*"))]


def _finished_runs(runs: Path) -> list[Path]:
    """result.json of the extra runs that have reported every epoch."""
    return [
        path for path in runs.glob("*/result.json")
        if len(path.read_text().splitlines()) == REPEAT_EPOCHS
    ]  # fmt: skip
