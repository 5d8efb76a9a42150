"""How many trials a search runs at once, from --concurrency or the cluster's resources, what a
trial may ask of a local machine, and Ray Tune's settings while a search runs."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import pytest

from tests.schedulers.test_mo_asha import search_options
from tune_mtl.errors import TuneMtlError
from tune_mtl.search import _tune_environment, check_trial_fits, trials_at_once

OPTIONS = search_options("asha")


def test_concurrency_given_wins_over_the_resources() -> None:
    assert trials_at_once(replace(OPTIONS, concurrency=3), {"CPU": 16.0}) == 3


def test_otherwise_as_many_as_the_cpus_and_gpus_hold() -> None:
    assert trials_at_once(OPTIONS, {"CPU": 2.0}) == 2
    assert trials_at_once(replace(OPTIONS, cpus_per_trial=0.5), {"CPU": 3.0}) == 6
    assert trials_at_once(replace(OPTIONS, cpus_per_trial=1.5), {"CPU": 4.0}) == 2
    gpu = replace(OPTIONS, gpus_per_trial=0.5)
    assert trials_at_once(gpu, {"CPU": 16.0, "GPU": 1.0}) == 2
    assert trials_at_once(OPTIONS, {"CPU": 16.0, "GPU": 1.0}) == 16  # trials ask for no GPU
    assert trials_at_once(replace(OPTIONS, cpus_per_trial=4.0), {"CPU": 2.0}) == 1  # at least one


def test_a_trial_larger_than_the_local_machine_is_refused() -> None:
    check_trial_fits(replace(OPTIONS, cpus_per_trial=2.0), {"CPU": 2.0})
    message = "--cpus-per-trial 4 asks for more than this machine's 2 CPUs, so no trial could start"
    with pytest.raises(TuneMtlError, match=f"^{message}; pass at most 2, or --address"):
        check_trial_fits(replace(OPTIONS, cpus_per_trial=4.0), {"CPU": 2.0})
    with pytest.raises(TuneMtlError, match="machine's 0 GPUs, .*; leave out --gpus-per-trial, or"):
        check_trial_fits(replace(OPTIONS, gpus_per_trial=0.5), {"CPU": 2.0})
    check_trial_fits(replace(OPTIONS, gpus_per_trial=0.5), {"CPU": 2.0, "GPU": 1.0})


def test_during_a_search_ray_keeps_its_resume_advice_and_tune_mtl_sets_its_variables() -> None:
    """tune-mtl prints its own resume command; Ray's `Tuner.restore` advice would contradict it.
    Other words of Ray's still reach the user, and everything is as before once it ends."""
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    tune_logger = logging.getLogger("ray.tune.tune")
    tune_logger.addHandler(handler)
    try:
        with _tune_environment(pending=3):
            assert os.environ["TUNE_MAX_PENDING_TRIALS_PG"] == "3"
            assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
            assert os.environ["TUNE_PRINT_ALL_TRIAL_ERRORS"] == "0"
            tune_logger.warning("Experiment has been interrupted, but ... Tuner.restore(...)")
            tune_logger.warning("Stop signal received (e.g. via SIGINT/Ctrl+C)")
        tune_logger.warning("Experiment has been interrupted, after the search")
    finally:
        tune_logger.removeHandler(handler)
    assert seen == [
        "Stop signal received (e.g. via SIGINT/Ctrl+C)",
        "Experiment has been interrupted, after the search",
    ]
    assert "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ and "RAY_AIR_NEW_OUTPUT" not in os.environ
    assert "TUNE_PRINT_ALL_TRIAL_ERRORS" not in os.environ
