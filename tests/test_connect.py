"""Connecting to Ray from a process where Ray already runs."""

from __future__ import annotations

import pytest
import ray

from tune_mtl import cluster
from tune_mtl.errors import TuneMtlError


class _Context:
    gcs_address = "127.0.0.2:6379"


@pytest.fixture
def connected(monkeypatch) -> list[dict]:
    """Ray initialised at 127.0.0.2:6379; records any ray.init call instead of making it."""
    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: _Context())
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    return calls


def test_another_address_is_refused_in_one_line(connected: list[dict]) -> None:
    with pytest.raises(TuneMtlError) as caught:
        cluster.connect("10.0.0.5:6379")
    message = str(caught.value)
    assert "already connected to 127.0.0.2:6379" in message and "'10.0.0.5:6379'" in message
    assert "ray.shutdown()" in message and "\n" not in message
    assert connected == []


@pytest.mark.parametrize("address", [None, "auto", "127.0.0.2:6379", "ray://127.0.0.2:6379"])
def test_the_same_cluster_or_no_address_uses_the_connection(
    connected: list[dict], address: str | None
) -> None:
    cluster.connect(address)
    assert connected == []
