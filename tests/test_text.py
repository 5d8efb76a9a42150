from __future__ import annotations

import pytest

from tune_mtl.text import counted


@pytest.mark.parametrize(
    ("count", "noun", "words"),
    [(1, "trial", "1 trial"), (0, "trial", "0 trials"), (3, "epoch", "3 epochs"),
     (2.0, "CPU", "2 CPUs"), (0.5, "GPU", "0.5 GPUs"), (1.0, "GPU", "1 GPU")],
)  # fmt: skip
def test_a_count_is_plural_unless_it_is_exactly_one(count: float, noun: str, words: str) -> None:
    assert counted(count, noun) == words
