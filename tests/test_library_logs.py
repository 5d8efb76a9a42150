"""The libraries' log lines that tune-mtl says its own way: dropped inside the block only."""

from __future__ import annotations

import logging

import pytest

from tune_mtl.library_logs import SEARCH_WORDS, START_WORDS, dropping


@pytest.mark.parametrize("words", [SEARCH_WORDS, START_WORDS], ids=["search", "start"])
def test_the_named_lines_are_dropped_inside_the_block_and_nothing_else(words) -> None:
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    loggers = {name: logging.getLogger(name) for name in words}
    for logger in loggers.values():
        logger.addHandler(handler)
    try:
        with dropping(words):
            for name, starts in words.items():
                for start in starts:
                    loggers[name].warning(f"{start} (inside)")
                loggers[name].warning("another line of the same logger")
        first = next(iter(words))
        loggers[first].warning(f"{words[first][0]} (after)")
    finally:
        for logger in loggers.values():
            logger.removeHandler(handler)
    first = next(iter(words))
    assert seen == [
        *["another line of the same logger"] * len(words),
        f"{words[first][0]} (after)",
    ]
