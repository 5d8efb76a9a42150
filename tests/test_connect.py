"""Connecting to Ray: from a process where Ray already runs, and to an address where nothing does."""

from __future__ import annotations

import socket

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


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_nothing_listens_is_refused_before_ray_tries(
    scheme: str, monkeypatch
) -> None:
    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    with socket.socket() as closed:  # a port just freed: nothing listens there
        closed.bind(("127.0.0.2", 0))
        port = closed.getsockname()[1]
    address = f"{scheme}127.0.0.2:{port}"
    with pytest.raises(TuneMtlError) as caught:
        cluster.connect(address)
    assert str(caught.value) == (
        f"nothing answers at --address {address!r} (Connection refused); start the cluster "
        "with `ray start --head`, or pass the address `ray status` shows on its head node."
    )
    assert calls == []
    with socket.socket() as listening:  # something answers: Ray is asked to connect
        listening.bind(("127.0.0.2", 0))
        listening.listen()
        cluster.connect(f"{scheme}127.0.0.2:{listening.getsockname()[1]}")
    with socket.socket(socket.AF_INET6) as listening:  # an IPv6 host in brackets, as Ray writes it
        listening.bind(("::1", 0))
        listening.listen()
        cluster.connect(f"{scheme}[::1]:{listening.getsockname()[1]}")
    assert len(calls) == 2


def test_a_web_address_is_refused_with_the_forms_ray_takes(monkeypatch) -> None:
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(TuneMtlError) as caught:
        cluster.connect("http://127.0.0.2:8265")
    assert str(caught.value) == (
        "--address 'http://127.0.0.2:8265' is a web address (Ray's dashboard or job API); pass "
        "the cluster's address as HOST:6379, or Ray Client's as ray://HOST:10001."
    )


REFUSAL = (
    "Initialization failure from server:\nTraceback (most recent call last):\n"
    '  File "proxier.py", line 781, in Datapath\n    raise RuntimeError(\n'
    "RuntimeError: Proxy failed to Connect to backend!\n"
)


@pytest.fixture
def client_refusing(monkeypatch) -> tuple[list[dict], list[bool]]:
    """Ray not initialised; ray.init records its call, then Ray Client's server refuses the
    session for as long as the second list holds True, popped once per call."""
    calls: list[dict] = []
    refusals: list[bool] = []

    def init(**kwargs) -> None:
        calls.append(kwargs)
        if refusals.pop(0):
            raise ConnectionAbortedError(REFUSAL)

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    return calls, refusals


def client_address(listening: socket.socket) -> str:
    listening.bind(("127.0.0.2", 0))
    listening.listen()
    return f"ray://127.0.0.2:{listening.getsockname()[1]}"


def test_a_session_that_ray_clients_server_fails_to_start_is_tried_once_more(
    client_refusing: tuple[list[dict], list[bool]],
) -> None:
    calls, refusals = client_refusing
    refusals.extend([True, False])
    with socket.socket() as listening:
        cluster.connect(client_address(listening))
    assert len(calls) == 2 and calls[0] == calls[1]


def test_a_refusal_from_ray_clients_server_names_its_exception(
    client_refusing: tuple[list[dict], list[bool]],
) -> None:
    """Ray Client's server sends back its traceback; the message keeps its headline and its last
    line, the exception."""
    calls, refusals = client_refusing
    refusals.extend([True, True])
    with socket.socket() as listening:
        address = client_address(listening)
        with pytest.raises(TuneMtlError) as caught:
            cluster.connect(address)
    assert len(calls) == 2
    assert str(caught.value) == (
        f"cannot connect to the Ray cluster at --address {address!r} (Initialization failure "
        "from server: RuntimeError: Proxy failed to Connect to backend!); start one with "
        "`ray start --head`, or pass the address `ray status` shows."
    )
