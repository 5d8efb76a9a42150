from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, cli_env, run_cli
from tune_mtl.cli import main
from tune_mtl.options import resolve
from tune_mtl.space import default_space_path, load_space


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["search", "--trials", "0"], "'--trials'"),
        (["search", "--trials", "many"], "'--trials'"),
        (["search", "--bogus"], "No such option: --bogus"),
        (["serch"], "No such command 'serch'. Did you mean 'search'? See `tune-mtl --help`."),
        (["search", "--cpus-per-trial", "0"], "'--cpus-per-trial'"),
        (["search", "--sampler", "cmaes"], "sampler 'cmaes' is not known; choose one of tpe"),
        (["search", "--scheduler", "hyperband"], "scheduler 'hyperband' is not known"),
        (
            ["search", "--learning-rate-schedule", "linear"],
            "learning_rate_schedule 'linear' is not known; choose one of constant, cosine.",
        ),
        (["search", "--reduction-factor", "1"], "'--reduction-factor'"),
        (["search", "--dataset", "mnist"], "data 'mnist' is neither built in"),
        (["search", "--data", "mnist"], "data 'mnist' is neither built in"),
        (["search", "--model", "huge"], "model 'huge' is neither built in"),
        (["search", "--space", "missing.yaml"], "missing.yaml does not exist"),
        (["pareto", "nowhere"], "nowhere is not a folder; pass the folder of a finished search"),
        (["pareto", "tests"], "tests has no trials.csv, pareto.csv, summary.json; pass the folder"),
        (
            ["search", "--space", "tests"],
            "search space tests is a folder; pass --space with a YAML",
        ),
        (
            ["pareto", "nowhere", "--format", "yaml"],
            "'yaml' is not one of 'table', 'csv', 'json'; see `tune-mtl pareto --help`.",
        ),
        (["search", "--resume", "nowhere"], "nowhere is not a folder; pass the folder of a search"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str, capsys) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_a_bad_setting_in_a_space_file_names_the_file(tmp_path: Path, capsys) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("scheduler: hyperband\nparams:\n  gamma: {type: uniform, low: 0, high: 1}\n")
    assert main(["search", "--space", str(space)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: scheduler 'hyperband' (in {space}) is not known; choose one of "
    )
    assert main(["search", "--space", str(space), "--scheduler", "none", "--trials", "0"]) == 2
    assert "(in " not in capsys.readouterr().err  # a flag's value names no file


@pytest.mark.parametrize("key", ["data", "model"])
def test_a_missing_file_names_the_space_file_or_the_flag_it_came_from(
    key: str, tmp_path: Path, capsys
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        f"{key}: nothere.py:load\nparams:\n  gamma: {{type: uniform, low: 0, high: 1}}\n"
    )
    results = ["--results", str(tmp_path / "r")]
    assert main(["search", "--space", str(space), *results]) == 2
    assert capsys.readouterr().err == (
        f"error: {key} (in {space}) names {tmp_path / 'nothere.py'}, which does not exist; "
        "pass an existing .py file.\n"
    )
    assert main(["search", "--space", str(space), f"--{key}", "other.py:load", *results]) == 2
    assert f"error: --{key} names {Path.cwd() / 'other.py'}, which" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_missing_data_dir_stops_before_anything_is_written(tmp_path: Path, capsys) -> None:
    args = ["search", "--data-dir", str(tmp_path / "none"), "--results", str(tmp_path / "r")]
    assert main(args) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["../out", "a/b", "", ".", "..", ".hidden", "-x", "two words"])
def test_a_name_that_is_not_one_folder_is_refused(name: str, tmp_path: Path, capsys) -> None:
    args = ["search", "--data", "synthetic", "--results", str(tmp_path / "r"), "--name", name]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"error: --name {name!r} is not a folder name: start with a letter, digit or '_', then "
        "letters, digits, '.', '_' or '-'; e.g. --name exp1.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_existing_experiment_is_never_overwritten(tmp_path: Path, capsys) -> None:
    (tmp_path / "r" / "taken").mkdir(parents=True)
    (tmp_path / "r" / "taken" / "trials.csv").write_text("kept")
    args = ["search", "--results", str(tmp_path / "r"), "--name", "taken"]
    assert main(args) == 2
    assert "already exists; pass another --name" in capsys.readouterr().err
    assert (tmp_path / "r" / "taken" / "trials.csv").read_text() == "kept"


@pytest.mark.parametrize("under", ["", "sub/dir"])
def test_a_file_where_the_results_folder_goes_is_refused_first(
    under: str, tmp_path: Path, capsys
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("kept")
    assert main(["search", "--data", "synthetic", "--results", str(taken / under)]) == 2
    captured = capsys.readouterr()
    assert "Loading" not in captured.out  # refused before the data set is loaded
    assert captured.err == (
        f"error: --results {(taken / under).resolve()}: {taken} is a file, not a folder; pass a "
        "folder (it is created if missing), e.g. --results results.\n"
    )
    assert taken.read_text() == "kept"


@pytest.mark.parametrize("command", ["pareto", "report", "export"])
def test_an_unfinished_search_points_at_resume(command: str, tmp_path: Path, capsys) -> None:
    unfinished = tmp_path / "exp1"
    unfinished.mkdir()
    (unfinished / "search.json").write_text("{}")
    extra = {"pareto": [], "report": [], "export": ["--knee", "--out", str(tmp_path / "m.keras")]}
    assert main([command, str(unfinished), *extra[command]]) == 2
    assert capsys.readouterr().err == (
        f"error: {unfinished} is a search that has not finished; run `tune-mtl search --resume "
        f"{unfinished}` to finish it, then try again.\n"
    )
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["exp1", "search.json"]


def test_every_command_has_help(capsys) -> None:
    for command in (["--help"], ["search", "--help"], ["pareto", "--help"]):
        assert main(command) == 0
    out = capsys.readouterr().out
    for flag in ("--trials", "--data", "--dataset", "--load-in-trials", "--space", "--max-epochs", "--batch-size",
                 "--concurrency", "--cpus-per-trial", "--gpus-per-trial", "--sampler",
                 "--scheduler", "--results", "--name", "--seed", "--data-dir", "--model"):  # fmt: skip
        assert flag in out


def test_search_help_says_what_the_default_space_sets(capsys) -> None:
    assert main(["search", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    settings = load_space(default_space_path()).settings
    assert settings["learning_rate_schedule"] == "cosine"
    listed = ", ".join(f"{name} {value}" for name, value in settings.items())
    assert f"The default space file sets {listed}." in help_text
    assert "a [default] applies where neither sets it" in help_text


def test_debug_shows_the_traceback() -> None:
    from tune_mtl.errors import TuneMtlError

    with pytest.raises(TuneMtlError):
        main(["search", "--sampler", "cmaes", "--debug"])


def test_report_export_and_formats_have_help(capsys) -> None:
    for command in (["report", "--help"], ["export", "--help"], ["pareto", "--help"],
                    ["search", "--help"]):  # fmt: skip
        assert main(command) == 0
    out = capsys.readouterr().out
    for flag in ("--out", "--embed", "--knee", "--trial", "--overwrite", "--format", "--verbose"):
        assert flag in out


def test_a_space_files_reduction_factor_below_2_is_one_line(tmp_path: Path, capsys) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("reduction_factor: 1\nparams:\n  gamma: {type: uniform, low: 0, high: 1}\n")
    assert main(["search", "--space", str(space), "--results", str(tmp_path / "r")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "error: reduction_factor must be >= 2 (about 1/reduction_factor of the trials at a rung "
        f"go on), but got 1 (in {space})."
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.e2e
def test_ctrl_c_before_the_search_starts_exits_130_and_says_so(tmp_path: Path) -> None:
    """SIGINT while the model is checked and Ray starts, before any trial: exit status 130 and a
    line saying so, not 0 and silence. A child sees SIGINT as a shell's foreground job would."""
    search = subprocess.Popen(
        [*CLI, "search", "--data", "synthetic", "--results", str(tmp_path), "--name", "cut"],
        cwd=tmp_path, env={**cli_env(), "PYTHONUNBUFFERED": "1"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert search.stdout is not None
        first = search.stdout.readline()
        assert first.startswith("Loading synthetic and checking the model"), first
        search.send_signal(signal.SIGINT)
        stdout, stderr = search.communicate(timeout=120)
    finally:
        search.kill()
    assert search.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "Interrupted (Ctrl-C)."
    assert "Traceback" not in stderr and "Searching:" not in stdout


@pytest.mark.e2e
def test_a_trial_larger_than_the_local_machine_is_one_line_not_a_wait(tmp_path: Path) -> None:
    done = run_cli(
        "search", "--data", "synthetic", "--cpus-per-trial", "64", "--results", str(tmp_path / "r"),
        cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: --cpus-per-trial 64 asks for more than this machine's ")
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("trials", "runs"), [("2", "the first 2"), ("5", "each once, then 2 again")]
)
def test_a_trial_count_other_than_the_grids_says_what_runs(
    tmp_path: Path, capsys, trials: str, runs: str
) -> None:
    space = tmp_path / "grid.yaml"
    space.write_text("data: synthetic\nparams:\n  gamma: {type: grid, values: [0, 0.5, 1]}\n")
    (tmp_path / "taken").mkdir()  # stops the search right after the note, before it loads data
    args = ["search", "--space", str(space), "--trials", trials, "--results", str(tmp_path),
            "--name", "taken"]  # fmt: skip
    assert main(args) == 2
    assert capsys.readouterr().out.splitlines() == [
        f"note: the grid of grid.yaml has 3 points; --trials {trials} runs {runs}."
    ]


def test_a_grid_is_searched_by_its_own_sampler_and_says_so_to_a_sampler_flag(
    tmp_path: Path, capsys
) -> None:
    space = tmp_path / "grid.yaml"
    space.write_text("data: synthetic\nparams:\n  gamma: {type: grid, values: [0, 0.5, 1]}\n")
    assert resolve(load_space(space), {})["sampler"] == "grid"
    (tmp_path / "taken").mkdir()  # stops the search right after the notes
    args = ["search", "--space", str(space), "--sampler", "nsga2", "--results", str(tmp_path),
            "--name", "taken"]  # fmt: skip
    assert main(args) == 2
    assert capsys.readouterr().out.splitlines() == [
        "note: --sampler nsga2 does not apply to a grid, which is tried point by point."
    ]
