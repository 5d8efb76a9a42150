"""TensorFlow's lines about a missing GPU kept off the terminal, and nothing else."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import cli_env
from tune_mtl.quiet_tensorflow import drop_missing_gpu_lines

# What TensorFlow 2.21 prints on a CPU-only machine, with two lines of its own added: a real
# error and a warning.
CAPTURED = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796066347.691393   22234 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796066347.692425   22234 cudart_stub.cc:31] Could not find cuda drivers on your \
machine, GPU will not be used.
I0000 00:00:1796066309.369706   20451 cpu_feature_guard.cc:227] This TensorFlow binary is \
optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.
W0000 00:00:1796066350.100000   22234 some_op.cc:12] a warning of TensorFlow's own
E0000 00:00:1796066350.635178   22234 cuda_platform.cc:52] failed call to cuInit: INTERNAL: \
CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
E0000 00:00:1796066350.700000   22234 loader.cc:40] a real error
  with a second line
"""


def test_the_missing_gpu_lines_go_and_the_rest_follows_the_log_level() -> None:
    assert drop_missing_gpu_lines(CAPTURED, min_log_level=2) == (
        "E0000 00:00:1796066350.700000   22234 loader.cc:40] a real error\n  with a second line\n"
    )
    everything_else = drop_missing_gpu_lines(CAPTURED, min_log_level=0)
    assert "cuda" not in everything_else.lower() and "absl::InitializeLog" not in everything_else
    kept = [line.split("] ")[-1] for line in everything_else.splitlines()]
    assert kept == [
        "oneDNN custom operations are on.",
        "This TensorFlow binary is optimized to use available CPU instructions in "
        "performance-critical operations.",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.",
        "a warning of TensorFlow's own",
        "a real error",
        "  with a second line",
    ]
    assert drop_missing_gpu_lines("plain output\n", min_log_level=3) == "plain output\n"


def _stderr_of(script: str) -> str:
    """What ``script``, run by Python with this checkout's package and TensorFlow's log level 2
    as the CLI sets it, with the check for NVIDIA's driver forced to find none, writes to stderr."""
    forced = (
        "from tune_mtl import quiet_tensorflow\n"
        "quiet_tensorflow.cuda_driver_missing = lambda: True\n"
    )
    env = {**cli_env(), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", forced + script],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_tensorflow_imported_quietly_says_nothing_about_the_gpu() -> None:
    """TensorFlow's import and first op leave no line about CUDA; Python's own stderr still
    comes through."""
    stderr = _stderr_of(
        "import sys\n"
        "quiet_tensorflow.import_tensorflow_quietly()\n"
        "import tensorflow as tf\n"
        "print(float(tf.reduce_sum(tf.ones(3))), file=sys.stderr)\n"
    )
    assert stderr.endswith("3.0\n")
    for line in stderr.splitlines():
        assert "cuda" not in line.lower() and not line.startswith("I0000"), line


def test_a_search_from_python_imports_tensorflow_quietly() -> None:
    """`tune_mtl.search` imports TensorFlow as the CLI does, before anything else it does; a
    search refused at once (a negative trial count) shows it without running one."""
    stderr = _stderr_of(
        "import sys\n"
        "import tune_mtl\n"
        "try:\n"
        "    tune_mtl.search(trials=-1)\n"
        "except tune_mtl.TuneMtlError as error:\n"
        "    print(error, file=sys.stderr)\n"
        "print('tensorflow' in sys.modules, file=sys.stderr)\n"
    )
    assert stderr.splitlines() == ["trials must be >= 1, but got -1.", "True"], stderr
