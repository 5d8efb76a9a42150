"""The `tune-mtl` command: each command parses flags, calls one library function, prints."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.exceptions import Abort, Exit, TyperException

from tune_mtl.errors import SearchInterrupted, TuneMtlError, UserCodeError

INTERRUPTED = 130  # the shell's exit status for a process ended by Ctrl-C (128 + SIGINT)
app = typer.Typer(
    help="Multi-objective hyperparameter search for multi-task Keras models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _space_defaults() -> str:
    """The search command's epilog: where its settings come from, and the default space's."""
    from tune_mtl.space import default_space_path, load_space

    settings = load_space(default_space_path()).settings
    listed = ", ".join(f"{name} {value}" for name, value in settings.items())
    return (
        "A flag overrides the space file's setting; a [default] applies where neither sets it. "
        f"The default space file sets {listed}. --debug shows the traceback of an error."
    )


@app.command("search", epilog=_space_defaults())
def search_command(
    context: typer.Context,
    trials: Annotated[
        Optional[int],
        typer.Option(min=1, help="Trials to run [default: 50; a grid space: its size]."),
    ] = None,
    data: Annotated[
        Optional[str],
        typer.Option(
            "--data",
            "--dataset",
            help="fashion_mnist, multi_fashion, cifar10, synthetic, or your loader as "
            "module:function or path/to/file.py:function, returning a tune_mtl.Dataset "
            "[default: fashion_mnist].",
        ),
    ] = None,
    space: Annotated[
        Optional[Path],
        typer.Option(help="Search-space YAML [default: search_spaces/default.yaml]."),
    ] = None,
    max_epochs: Annotated[
        Optional[int], typer.Option(min=1, help="Epochs of a trial that is not stopped early.")
    ] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Training batch size.")] = None,
    examples_per_epoch: Annotated[
        Optional[int], typer.Option(min=1, help="Examples drawn per epoch [default: all].")
    ] = None,
    concurrency: Annotated[
        Optional[int],
        typer.Option(min=1, help="Trials at once [default: as many as the CPUs allow]."),
    ] = None,
    cpus_per_trial: Annotated[
        float, typer.Option(min=0.01, help="CPUs each trial asks Ray for.")
    ] = 1.0,
    gpus_per_trial: Annotated[
        float,
        typer.Option(min=0.0, help="GPUs each trial asks Ray for; 0.25 packs four on one GPU."),
    ] = 0.0,
    sampler: Annotated[
        Optional[str], typer.Option(help="tpe, nsga2, gp or random [default: tpe].")
    ] = None,
    scheduler: Annotated[
        Optional[str],
        typer.Option(
            help="asha (on the tasks' mean improvement over their constant predictors), "
            "mo-asha (on the Pareto front of the tasks) or none [default: asha]."
        ),
    ] = None,
    learning_rate_schedule: Annotated[
        Optional[str],
        typer.Option(
            help="constant, or cosine: each trial's learning rate decays to zero over "
            "--max-epochs [default: constant].",
        ),
    ] = None,
    reduction_factor: Annotated[
        Optional[int],
        typer.Option(
            min=2,
            help="The scheduler's rungs are at 1, R, R**2, ... epochs; about 1/R of the trials "
            "reaching one go on [default: 4].",
        ),
    ] = None,
    repeats: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Runs per front candidate: train the front's members (and trials near it) "
            "REPEATS - 1 more times with other seeds and choose the front on their means "
            "[default: 1].",
        ),
    ] = None,
    results: Annotated[Path, typer.Option(help="Folder that holds each search's folder.")] = Path(
        "results"
    ),
    name: Annotated[
        Optional[str], typer.Option(help="This search's folder name [default: DATASET-TIME].")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seeds the sampler, the validation split and the weights.")
    ] = 0,
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Where the data set's files are.")
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            help="small (CPU-sized), seed (the article's network), lenet (Pareto MTL's), or your "
            "builder build(hp, tasks) as module:function or path/to/file.py:function "
            "[default: small]."
        ),
    ] = None,
    load_in_trials: Annotated[
        bool,
        typer.Option(
            "--load-in-trials",
            help="Each trial calls the data loader itself (files every node sees) instead of "
            "reading the data from Ray's object store: for data too large for it.",
        ),
    ] = False,
    address: Annotated[
        Optional[str],
        typer.Option(
            help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 [default: RAY_ADDRESS, else a "
            "local Ray on loopback]."
        ),
    ] = None,
    storage_path: Annotated[
        Optional[str],
        typer.Option(
            help="Where Ray keeps checkpoints and trial results: a folder every node sees, or "
            "s3://bucket/prefix, gs://... [default: --results]."
        ),
    ] = None,
    max_failures: Annotated[
        int, typer.Option(min=0, help="Restarts of a failed trial, from its last checkpoint.")
    ] = 2,
    time_budget: Annotated[
        Optional[float],
        typer.Option(
            metavar="SECONDS",
            help="Wall-clock seconds for the trials; then running trials stop and the search "
            "ends with the trials it has [default: no limit].",
        ),
    ] = None,
    resume: Annotated[
        Optional[Path],
        typer.Option(help="Continue the interrupted search in this folder (results/NAME)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Print Ray Tune's own status table as well.")
    ] = False,
) -> None:
    """Search loss weights, widths and learning rate; print and save the tasks' Pareto front."""
    from tune_mtl.results import format_front
    from tune_mtl.search import resume as resume_search
    from tune_mtl.search import search

    echo = typer.echo
    if resume is not None:
        given = [
            f"--{name.replace('_', '-')}"
            for name in context.params
            if name not in ("resume", "address")
            and getattr(context.get_parameter_source(name), "name", "") == "COMMANDLINE"
        ]
        if given:
            raise TuneMtlError(
                f"--resume continues a search with its own settings, but {', '.join(given)} was "
                f"given too; drop it (only --address may change)."
            )
        result = resume_search(resume, address=address, echo=echo)
    else:
        result = search(
            trials=trials, data=data, space=space, max_epochs=max_epochs,
            batch_size=batch_size, examples_per_epoch=examples_per_epoch,
            concurrency=concurrency, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
            sampler=sampler, scheduler=scheduler, repeats=repeats,
            learning_rate_schedule=learning_rate_schedule, reduction_factor=reduction_factor,
            results=results, name=name,
            seed=seed,
            data_dir=data_dir, model=model, address=address, storage_path=storage_path,
            max_failures=max_failures, time_budget_s=time_budget, load_in_trials=load_in_trials,
            echo=echo, verbose=verbose,
        )  # fmt: skip
    typer.echo(format_front(result))
    typer.echo(f"Results: {result.path} (trials.csv, pareto.csv, summary.json)")


class FrontFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command("pareto")
def pareto_command(
    experiment: Annotated[Path, typer.Argument(help="A search's folder, e.g. results/NAME.")],
    format: Annotated[
        FrontFormat,
        typer.Option(help="table for people; csv or json (a list of rows) for scripts."),
    ] = FrontFormat.table,
) -> None:
    """Print the Pareto front of a finished search from its files."""
    from tune_mtl.results import format_front, load_results

    typer.echo(format_front(load_results(experiment), format=format.value))


@app.command("report")
def report_command(
    experiment: Annotated[Path, typer.Argument(help="A search's folder, e.g. results/NAME.")],
    out: Annotated[
        Optional[Path],
        typer.Option(
            help="Folder for the page and PNGs: new, empty or an earlier report's "
            "[default: NAME/report]."
        ),
    ] = None,
    embed: Annotated[
        bool, typer.Option("--embed", help="Put the images inside index.html as well.")
    ] = False,
) -> None:
    """Write an HTML report with PNGs: the front, curves, hypervolume, importance, front table."""
    from tune_mtl.report import report

    written = report(experiment, out=out, embed_images=embed)
    for section, note in written.notes.items():
        typer.echo(f"{section}: {note}")
    typer.echo(f"Report: {written.index} ({len(written.figures)} figures)")


@app.command("export")
def export_command(
    experiment: Annotated[Path, typer.Argument(help="A search's folder, e.g. results/NAME.")],
    out: Annotated[Path, typer.Option(help="The .keras file to write; a .json sidecar beside it.")],
    knee: Annotated[bool, typer.Option("--knee", help="Export the front's knee trial.")] = False,
    trial: Annotated[
        Optional[str], typer.Option(help="Export this trial (an ID from trials.csv).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing files at --out.")
    ] = False,
) -> None:
    """Copy a trial's model out as a .keras file, with its config, tasks and metrics."""
    from tune_mtl.export import describe, export_model

    exported = export_model(experiment, out=out, trial_id=trial, knee=knee, overwrite=overwrite)
    typer.echo(describe(exported))


@app.command("tensorboard")
def tensorboard_command(
    experiment: Annotated[Path, typer.Argument(help="A search's folder, e.g. results/NAME.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 6006,
    host: Annotated[
        str, typer.Option(help="Address to bind; loopback unless you ask.")
    ] = "127.0.0.1",
) -> None:
    """Serve a search's trials in TensorBoard (scalars and the HParams dashboard) until Ctrl-C."""
    import time

    from tune_mtl.board import launch_tensorboard

    url = launch_tensorboard(experiment, host=host, port=port)
    typer.echo(f"TensorBoard serves {experiment} at {url} (Ctrl-C stops it)", color=False)
    sys.stdout.flush()
    while True:
        time.sleep(3600)


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI. Known errors print one line and exit 2; `--debug` shows the traceback."""
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's info lines stay off
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    try:
        if args[0] == "search" and "--help" not in args:
            from tune_mtl.quiet_tensorflow import import_tensorflow_quietly

            import_tensorflow_quietly()  # before a CPU-only machine's CUDA lines reach the user
        # Typer returns 130 for a Ctrl-C it catches, a command's own result otherwise (None).
        code = app(args=args, prog_name="tune-mtl", standalone_mode=False)
    except KeyboardInterrupt:
        code = INTERRUPTED
    except Exit as done:
        return done.exit_code
    except TyperException as error:  # bad flags and values, as the parser words them
        if debug:
            raise
        message = error.format_message() if hasattr(error, "format_message") else error.message
        commands = {command.name for command in app.registered_commands}  # each named
        help_of = f"tune-mtl {args[0]} --help" if args[0] in commands else "tune-mtl --help"
        message = message.rstrip(".")
        joint = " See" if message.endswith("?") else "; see"
        typer.echo(f"error: {message}{joint} `{help_of}`.", err=True)
        return 2
    except Abort:
        typer.echo("Aborted.", err=True)
        return INTERRUPTED
    except SearchInterrupted as interrupted:
        typer.echo(str(interrupted), err=True)
        return INTERRUPTED
    except TuneMtlError as error:
        if debug:
            raise
        message = str(error)
        if isinstance(error, UserCodeError):
            message = f"{message.rstrip('.')} (--debug shows its traceback)."
        typer.echo(f"error: {message}", err=True)
        return 2
    if code == INTERRUPTED:
        typer.echo("Interrupted (Ctrl-C).", err=True)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
