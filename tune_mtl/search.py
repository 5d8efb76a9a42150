"""A multi-objective search: Ray Tune runs the trials, Optuna proposes them, results become tables.

`search()` is the whole pipeline that `tune-mtl search` runs, callable from Python as well;
`resume()` continues one that was interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from tune_mtl.cluster import Storage, check_storage_shared, connect, resolve_storage
from tune_mtl.data import Dataset
from tune_mtl.errors import SearchInterrupted, TuneMtlError
from tune_mtl.experiment_state import mend_experiment_state, put_back_named_checkpoints
from tune_mtl.library_logs import SEARCH_WORDS, dropping
from tune_mtl.options import ELAPSED_FILE, SearchOptions, check_run_settings, resolve
from tune_mtl.outcome import finish
from tune_mtl.problem import Problem, prepare_problem
from tune_mtl.progress import LiveBlock, SearchProgress
from tune_mtl.quiet_tensorflow import import_tensorflow_quietly
from tune_mtl.results import SEARCH_FILE, SUMMARY_FILE, SearchResult, write_atomically
from tune_mtl.scheduling import make_scheduler, rungs
from tune_mtl.searcher import make_searcher
from tune_mtl.space import SearchSpace, default_space_path, load_space
from tune_mtl.text import counted
from tune_mtl.trial_files import trial_dir
from tune_mtl.user_code import reference_of

NAME = re.compile(r"\w[\w.-]*")  # a search's folder, experiment and study name

__all__ = ["search", "resume", "trials_at_once", "check_trial_fits"]


def search(
    *,
    trials: int | None = None,
    data: str | Callable[[], Any] | Dataset | None = None,
    model: str | Callable[..., Any] | None = None,
    space: str | Path | None = None,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    examples_per_epoch: int | None = None,
    concurrency: int | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    sampler: str | None = None,
    scheduler: str | None = None,
    repeats: int | None = None,
    learning_rate_schedule: str | None = None,
    reduction_factor: int | None = None,
    results: str | Path = "results",
    name: str | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    address: str | None = None,
    storage_path: str | None = None,
    max_failures: int = 2,
    time_budget_s: float | None = None,
    load_in_trials: bool = False,
    echo: Callable[[str], Any] = print,
    live: bool | None = None,
    verbose: bool = False,
) -> SearchResult:
    """Runs a multi-objective search and writes trials.csv, pareto.csv and summary.json.

    Arguments left as None come from the search-space file, then from the defaults.

    Progress goes to ``echo``, one line per set-up step and per finished trial. ``live`` adds a
    block redrawn in place on standard output; by default it is on when standard output is a
    terminal and ``verbose`` is off. ``verbose`` prints Ray Tune's own status table as well.

    Args:
        data: the data: a built-in name (``fashion_mnist``, ``multi_fashion``, ``cifar10``,
            ``synthetic``), a loader named ``module:function`` or ``path/to/file.py:function``,
            the loader itself, or a `tune_mtl.Dataset`; a loader takes no arguments and returns a
            `Dataset`.
        model: the model builder: ``small``, ``seed``, ``lenet``, an import string as for
            ``data``, or the function ``build(hp, tasks)`` itself, returning an uncompiled
            `keras.Model` with one output per task, named after it.
        address: the Ray cluster to run on (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``);
            default ``RAY_ADDRESS``, else a local Ray bound to loopback.
        storage_path: where Ray keeps the experiment (checkpoints, trial results): a folder
            every node sees, or a URI such as ``s3://bucket/prefix``; default ``results``.
        max_failures: how often a failed trial restarts from its last epoch checkpoint.
        time_budget_s: wall-clock seconds for the trials; when they run out, running trials stop
            (``stopped``, never in the front) and the search ends normally with the trials it
            has. Counted from the start of Ray Tune's loop, after the data are loaded and Ray is
            up; starting the trials' processes counts.
        repeats: once the search ends, train the front's candidates (members, and trials
            within a margin of the front) ``repeats - 1`` more times with other seeds, and choose
            the front and knee on their means (`tune_mtl.repeats`).
        learning_rate_schedule: ``constant``, or ``cosine``: every trial's learning rate decays
            to zero over ``max_epochs`` (`tune_mtl.learning_rate`).
        reduction_factor: the scheduler's rungs are at 1, r, r**2, ... epochs, and about 1/r of
            the trials reaching one go on (default 4, as Ray's ASHA).
        load_in_trials: each trial calls the loader itself (files every node sees) instead of
            reading the data from Ray's object store: for data too large for it.

    Returns:
        The trials and the Pareto front (validation metrics, with test metrics) as DataFrames.

    Raises:
        SearchInterrupted: the search stopped (Ctrl-C) before every trial finished; its state is
            saved and `resume` continues it.
    """
    import_tensorflow_quietly()
    space_file = load_space(space if space is not None else default_space_path())
    given = {
        "trials": trials, "data": data, "model": model, "max_epochs": max_epochs,
        "batch_size": batch_size, "examples_per_epoch": examples_per_epoch,
        "sampler": sampler, "scheduler": scheduler, "repeats": repeats,
        "learning_rate_schedule": learning_rate_schedule, "reduction_factor": reduction_factor,
    }  # fmt: skip
    merged = resolve(space_file, given)
    if (note := _grid_note(space_file, merged["trials"])) is not None:
        echo(note)
    if space_file.is_grid and sampler is not None:
        echo(f"note: --sampler {sampler} does not apply to a grid, which is tried point by point.")
    check_run_settings(
        concurrency=concurrency,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        max_failures=max_failures,
        time_budget_s=time_budget_s,
    )
    _check_results_folder(Path(results).resolve())
    if name is not None:
        _check_name(name)
        if (results_dir := Path(results).resolve() / name).exists():
            raise TuneMtlError(f"{results_dir} already exists; pass another --name.")
    storage = resolve_storage(storage_path, default=Path(results).resolve())
    problem = _load(space_file, merged["data"], merged["model"], data_dir, seed=seed, echo=echo)
    references = {"data": problem.data_code.reference, "model": problem.model_code.reference}
    options = SearchOptions(
        **{**merged, **references},
        space=space_file.path,
        concurrency=concurrency,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        results=Path(results).resolve(),
        name=name or f"{_label(merged['data'])}-{datetime.now():%Y%m%d-%H%M%S}",
        seed=seed,
        data_dir=Path(data_dir) if data_dir is not None else None,
        storage_path=storage_path,
        max_failures=max_failures,
        time_budget_s=time_budget_s,
        load_in_trials=load_in_trials,
        address=address,
    )
    experiment_dir = options.results / options.name
    if experiment_dir.exists():
        raise TuneMtlError(f"{experiment_dir} already exists; pass another --name.")
    _connect(problem, options, storage, address=address, echo=echo)
    experiment_dir.mkdir(parents=True)
    write_atomically(experiment_dir / SEARCH_FILE, options.to_json())
    if live is None:
        live = sys.stdout.isatty() and not verbose
    display = {"live": live, "verbose": verbose}
    return _run(options, storage, problem, echo=echo, new=display)


def _check_results_folder(results: Path) -> None:
    """``--results`` is a folder, or can become one: no file stands where a folder must be."""
    existing = next(path for path in (results, *results.parents) if path.exists())
    if not existing.is_dir():
        raise TuneMtlError(
            f"--results {results}: {existing} is a file, not a folder; pass a folder (it is "
            "created if missing), e.g. --results results."
        )


def _check_name(name: str) -> None:
    """``--name`` is one folder inside ``--results``, and names Ray's experiment and Optuna's
    study too."""
    if not NAME.fullmatch(name):
        raise TuneMtlError(
            f"--name {name!r} is not a folder name: start with a letter, digit or '_', then "
            "letters, digits, '.', '_' or '-'; e.g. --name exp1."
        )


def _grid_note(space: SearchSpace, trials: int) -> str | None:
    """What a grid searched with a trial count other than its number of points runs (None for
    any other space, or the grid's own count)."""
    points = len(space.grid()) if space.is_grid else trials
    if trials == points:
        return None
    runs = f"the first {trials}" if trials < points else f"each once, then {trials - points} again"
    return (
        f"note: the grid of {space.path.name} has {counted(points, 'point')}; --trials {trials} "
        f"runs {runs}."
    )


def _reference(given: str | Callable[..., Any] | Dataset) -> str | None:
    if isinstance(given, Dataset):
        return None
    return given if isinstance(given, str) else reference_of(given)


def _label(given: str | Callable[..., Any] | Dataset) -> str:
    """A search's default name starts with its data: a built-in name, a module or a function."""
    if isinstance(given, Dataset):
        return given.name
    if not isinstance(given, str):
        reference = reference_of(given)
        if reference is None:
            return str(getattr(given, "__name__", "data")).strip("<>")
        given = reference
    target = given.rpartition(":")[0] or given
    return Path(target).stem if target.endswith(".py") else target.rpartition(".")[2]


def resume(
    path: str | Path,
    *,
    address: str | None = None,
    data: str | Callable[[], Any] | Dataset | None = None,
    model: str | Callable[..., Any] | None = None,
    echo: Callable[[str], Any] = print,
) -> SearchResult:
    """Continues an interrupted search from its folder (``results/NAME``) with `Tuner.restore`.

    Finished trials are kept, interrupted and errored ones resume from their last checkpoint, the
    Optuna study goes on, and the search ends with the number of trials it was started with.
    Progress is shown as the search was started to show it (``live``, ``verbose``). A search
    started with a notebook's functions needs them again as ``data`` and ``model``.
    """
    import_tensorflow_quietly()
    path = Path(path).resolve()
    if not path.is_dir():
        raise TuneMtlError(
            f"--resume {path} is not a folder; pass the folder of a search that `tune-mtl search` "
            "started, e.g. results/NAME."
        )
    if not (path / SEARCH_FILE).is_file():
        raise TuneMtlError(
            f"--resume {path} has no {SEARCH_FILE}; pass the folder of a search that "
            "`tune-mtl search` started, e.g. results/NAME."
        )
    if (path / SUMMARY_FILE).is_file():
        raise TuneMtlError(
            f"--resume {path}: that search has finished; `tune-mtl pareto {path}` prints its front."
        )
    saved = SearchOptions.from_json((path / SEARCH_FILE).read_text())
    options = replace(saved, results=path.parent, name=path.name, address=address)
    storage = resolve_storage(options.storage_path, default=options.results)
    space_file = load_space(options.space)
    given = {"data": data if data is not None else options.data,
             "model": model if model is not None else options.model}  # fmt: skip
    for key, value in given.items():
        if value is None:
            raise TuneMtlError(
                f"{path} was searched with a {key} function defined in a notebook or script; "
                f"pass it again: {options.resume_command()}."
            )
    problem = _load(space_file, given["data"], given["model"], options.data_dir,  # type: ignore[arg-type]
                    seed=options.seed, echo=echo)  # fmt: skip
    _connect(problem, options, storage, address=address, echo=echo)
    return _run(options, storage, problem, echo=echo, new=None)


def _load(
    space_file: SearchSpace,
    data: str | Callable[[], Any] | Dataset,
    model: str | Callable[..., Any],
    data_dir: str | Path | None,
    *,
    seed: int,
    echo: Callable[[str], Any],
) -> Problem:
    """Loads the data and checks the builder: what can fail before anything is written."""
    echo(f"Loading {_reference(data) or _label(data)} and checking the model ...")
    step_started = time.perf_counter()
    problem = prepare_problem(
        space_file,
        data=data,
        model=model,
        data_dir=Path(data_dir).expanduser() if data_dir is not None else None,
        seed=seed,
        echo=echo,
    )
    echo(f"  ({time.perf_counter() - step_started:.1f} s)")
    return problem


def _connect(
    problem: Problem,
    options: SearchOptions,
    storage: Storage,
    *,
    address: str | None,
    echo: Callable[[str], Any],
) -> None:
    cluster = address or os.environ.get("RAY_ADDRESS")
    echo(f"Connecting to Ray at {cluster} ..." if cluster else "Starting Ray ...")
    step_started = time.perf_counter()
    connect(address, ship=problem.ship(load_in_trials=options.load_in_trials))
    check_storage_shared(storage)
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    echo(
        f"  {counted(cpus, 'CPU')}, {counted(gpus, 'GPU')} "
        f"({time.perf_counter() - step_started:.1f} s)"
    )
    if not cluster:  # a cluster's autoscaler may add a node that fits; a local Ray cannot
        check_trial_fits(options, resources)


def _run(
    options: SearchOptions,
    storage: Storage,
    problem: Problem,
    *,
    echo: Callable[[str], Any],
    new: dict[str, bool] | None,
) -> SearchResult:
    """Runs a new search (``new`` holds its display settings) or resumes one (``new`` is None).

    A search stopped by Ctrl-C saves how long it had run; resumed, it counts on from there."""
    elapsed_file = options.results / options.name / ELAPSED_FILE
    before = json.loads(elapsed_file.read_text())["seconds"] if elapsed_file.is_file() else 0.0
    started = time.perf_counter() - before
    try:
        return _search_and_finish(options, storage, problem, started=started, echo=echo, new=new)
    except SearchInterrupted:
        write_atomically(elapsed_file, json.dumps({"seconds": time.perf_counter() - started}))
        raise


def _search_and_finish(
    options: SearchOptions,
    storage: Storage,
    problem: Problem,
    *,
    started: float,
    echo: Callable[[str], Any],
    new: dict[str, bool] | None,
) -> SearchResult:
    """`_run`'s work: the trials, then the results; ``started`` is the search's clock origin."""
    # Imported here: importing tune_mtl.search should not load TensorFlow.
    from tune_mtl.trainable import TrialData, TrialSettings, train_trial

    settings = TrialSettings(
        build=problem.model_code.function,
        objectives=problem.objectives,
        max_epochs=options.max_epochs,
        batch_size=options.batch_size,
        examples_per_epoch=options.examples_per_epoch,
        seed=options.seed,
        learning_rate_schedule=options.learning_rate_schedule,
    )
    dataset = problem.dataset
    trial_data = (
        TrialData(loader=problem.data_code.function, val_seed=options.seed)
        if options.load_in_trials
        else TrialData(dataset.train, dataset.val)
    )
    trainable = tune.with_resources(
        tune.with_parameters(train_trial, data=trial_data, settings=settings),
        {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial},
    )

    def repeat(configs: dict[str, dict[str, Any]], seeds: list[int]) -> tuple[list[Any], float]:
        from tune_mtl.repeat_runs import run_repeats

        return run_repeats(configs, seeds, options=options, storage=storage, data=trial_data,
                           settings=settings, echo=echo)  # fmt: skip

    at_once = trials_at_once(options, ray.cluster_resources())
    with _tune_environment(pending=at_once):
        tuner = _tuner(options, storage, problem, trainable, echo=echo, new=new)
        fit_started = time.time()
        tuner.fit()
    # Ray starts the budget's clock after fit() starts, so a budget that ran out took this long,
    # on the clock Ray's budget runs on: `time.time`, which the machine may step (a monotonic
    # clock then reads less). A resumed search gets its whole budget again: Ray does not save it.
    budget_spent = (
        options.time_budget_s is not None and time.time() - fit_started >= options.time_budget_s
    )
    with _tune_environment(pending=at_once):
        return finish(
            options, storage, problem, started=started, budget_spent=budget_spent, echo=echo,
            repeat=repeat,
        )  # fmt: skip


def trials_at_once(options: SearchOptions, resources: Mapping[str, float]) -> int:
    """``--concurrency``, else as many trials as the cluster's ``resources`` hold: its CPUs, and
    its GPUs when trials ask for some."""
    if options.concurrency is not None:
        return options.concurrency
    fits = [resources.get("CPU", 0.0) / options.cpus_per_trial]
    if options.gpus_per_trial > 0:
        fits.append(resources.get("GPU", 0.0) / options.gpus_per_trial)
    return max(1, int(min(fits)))


def check_trial_fits(options: SearchOptions, resources: Mapping[str, float]) -> None:
    """Refuses a trial's request for more CPUs or GPUs than a local Ray has: Ray would wait
    for them forever."""
    for flag, asked, kind in (
        ("--cpus-per-trial", options.cpus_per_trial, "CPU"),
        ("--gpus-per-trial", options.gpus_per_trial, "GPU"),
    ):
        has = resources.get(kind, 0.0)
        if asked > has:
            fix = f"pass at most {has:g}" if has else f"leave out {flag}"
            raise TuneMtlError(
                f"{flag} {asked:g} asks for more than this machine's {has:g} {kind}s, so no "
                f"trial could start; {fix}, or --address a Ray cluster with a node that large."
            )


@contextlib.contextmanager
def _tune_environment(*, pending: int) -> Iterator[None]:
    """Ray Tune's settings for this search, read from the environment; restored afterwards."""
    # Ray's own TensorBoard logger would add a second, partial copy of every trial's curves.
    # Saving the experiment state every few seconds (Ray's default waits 10 s or more) means a
    # killed driver loses at most the trials of the last seconds; they run again on resume.
    # Without a concurrency limit Ray keeps one trial pending at a time, so the workers of a
    # search would start one after another, each importing TensorFlow first; ``pending`` (the
    # trials the search runs at once) lets them start together.
    # Ray warns when the state is saved that often; here it is meant.
    excessive = "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"
    wanted = {
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
        "TUNE_GLOBAL_CHECKPOINT_S": os.environ.get("TUNE_GLOBAL_CHECKPOINT_S", "2"),
        "TUNE_MAX_PENDING_TRIALS_PG": os.environ.get("TUNE_MAX_PENDING_TRIALS_PG", str(pending)),
        excessive: os.environ.get(excessive, "0"),
        # The classic output: silent at verbose 0, Ray's status table at 2 (`--verbose`).
        "RAY_AIR_NEW_OUTPUT": os.environ.get("RAY_AIR_NEW_OUTPUT", "0"),
        # A failed trial's traceback goes to its error.txt; the progress line says where.
        "TUNE_PRINT_ALL_TRIAL_ERRORS": os.environ.get("TUNE_PRINT_ALL_TRIAL_ERRORS", "0"),
    }
    before = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        with dropping(SEARCH_WORDS):
            yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _tuner(
    options: SearchOptions,
    storage: Storage,
    problem: Problem,
    trainable: Any,
    *,
    echo: Callable[[str], Any],
    new: dict[str, bool] | None,
) -> tune.Tuner:
    """A new Tuner (``new`` holds the display settings), or the restored one of a resumed search."""
    experiment_dir = options.results / options.name
    experiment_path = storage.experiment_path(options.name)
    if new is None:
        if not tune.Tuner.can_restore(experiment_path, storage_filesystem=storage.filesystem):
            raise TuneMtlError(
                f"--resume {experiment_dir}: no Ray experiment state at {experiment_path}, so the "
                "search stopped before it began; start it again with `tune-mtl search`."
            )
        for file in mend_experiment_state(storage, options.name):
            echo(f"  {file} was cut short when the search was killed; its staging copy is used")
        put_back_named_checkpoints(storage, options.name)
        echo(f"Resuming {experiment_dir}: {options.trials} trials in all")
        return tune.Tuner.restore(
            experiment_path,
            trainable=trainable,
            resume_errored=True,
            storage_filesystem=storage.filesystem,
        )
    tuner = _new_tuner(options, storage, problem, trainable, echo=echo, **new)
    budget = options.time_budget_s
    budget_text = f", time budget {budget:g} s" if budget is not None else ""
    echo(
        f"Searching: {counted(options.trials, 'trial')}, up to "
        f"{counted(options.max_epochs, 'epoch')} each "
        f"({options.learning_rate_schedule} learning rate), "
        f"sampler {options.sampler}, {_scheduler_text(options)}{budget_text}; "
        f"results in {experiment_dir}"
    )
    return tuner


def _scheduler_text(options: SearchOptions) -> str:
    """``scheduler asha (rungs at epochs 1, 4, 16)``, for the line that starts a search."""
    at = rungs(options)
    if not at:
        return f"scheduler {options.scheduler}"
    return f"scheduler {options.scheduler} (rungs at epochs {', '.join(map(str, at))})"


def _new_tuner(
    options: SearchOptions,
    storage: Storage,
    problem: Problem,
    trainable: Any,
    *,
    echo: Callable[[str], Any],
    live: bool,
    verbose: bool,
) -> tune.Tuner:
    from tune_mtl import tensorboard_log
    from tune_mtl.tensorboard_callback import TensorBoardCallback

    experiment_dir = options.results / options.name
    objectives = problem.objectives
    space_file = problem.space
    searcher = make_searcher(
        space_file,
        objectives,
        sampler=options.sampler,
        trials=options.trials,
        max_epochs=options.max_epochs,
        seed=options.seed,
        study_dir=experiment_dir,
        study_name=options.name,
    )
    tensorboard_root = experiment_dir / tensorboard_log.TENSORBOARD_DIR
    tensorboard_log.write_experiment_config(
        tensorboard_root,
        params=space_file.params,
        constants=space_file.constants,
        objectives=objectives,
    )
    search_curves = tensorboard_log.SearchWriter(tensorboard_root / "search")
    progress = SearchProgress(
        live=LiveBlock(sys.stdout) if live else None,
        total=options.trials,
        max_epochs=options.max_epochs,
        objectives=objectives,
        echo=echo,
        time_budget_s=options.time_budget_s,
        on_front=lambda done, size, volume: search_curves.finished(
            done, front_size=size, hypervolume=volume
        ),
    )
    return tune.Tuner(
        trainable,
        param_space=dict(space_file.constants),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=make_scheduler(options, objectives, start=space_file.start),
            num_samples=options.trials,
            max_concurrent_trials=options.concurrency,
            time_budget_s=options.time_budget_s,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: trial_dir(Path(), trial.trial_id).name,
        ),
        run_config=tune.RunConfig(
            name=options.name,
            storage_path=storage.root,
            storage_filesystem=storage.filesystem,
            verbose=2 if verbose else 0,
            callbacks=[
                progress,
                TensorBoardCallback(tensorboard_root, objectives=objectives),
                CSVLoggerCallback(),
                JsonLoggerCallback(),
            ],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
        ),
    )
