"""TensorFlow's oneDNN kernels: on once tune_mtl is imported, unless the user said otherwise; and
the benchmark that measures what they are worth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.onednn import main, write_page
from tests.conftest import cli_env

IS_ON = (
    "import tune_mtl\n"
    "from tensorflow.python.util import _pywrap_util_port\n"
    "print(_pywrap_util_port.IsMklEnabled())\n"
)


def _onednn_in_fresh_process(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    done = subprocess.run(
        [sys.executable, "-c", IS_ON], env=cli_env({**base, **env}), capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def test_importing_tune_mtl_turns_onednn_on() -> None:
    assert _onednn_in_fresh_process() == "True"


def test_a_users_choice_to_keep_onednn_off_holds() -> None:
    assert _onednn_in_fresh_process(TF_ENABLE_ONEDNN_OPTS="0") == "False"


def test_the_page_gives_each_repeat_and_the_speed_ups_median_and_range(tmp_path: Path) -> None:
    runs = [{"off": 6.0, "on": 4.0}, {"off": 6.6, "on": 4.0}, {"off": 5.0, "on": 5.0}]
    write_page(tmp_path / "onednn.md", runs, "python benchmarks/onednn.py --repeats 3")
    page = (tmp_path / "onednn.md").read_text()
    assert "| 1 | 6.00 | 4.00 | 1.50x |" in page
    assert "| 2 | 6.60 | 4.00 | 1.65x |" in page
    assert "| 3 | 5.00 | 5.00 | 1.00x |" in page
    assert "median 1.50x (range 1.00x to 1.65x) over 3 repeats" in page
    assert "`python benchmarks/onednn.py --repeats 3`" in page
    assert json.loads((tmp_path / "onednn.json").read_text())["runs"] == runs


@pytest.mark.slow
def test_the_benchmark_times_both_settings_on_the_default_space(tmp_path: Path) -> None:
    assert main(["--repeats", "1", "--epochs", "2", "--out", str(tmp_path / "o.md")]) == 0
    (run,) = json.loads((tmp_path / "o.json").read_text())["runs"]
    assert run["off"] > 0 and run["on"] > 0
