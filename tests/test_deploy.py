"""deploy/: the launcher YAMLs, the RayJob and the Dockerfile are well formed and agree.

The launcher YAMLs go through the same schema and defaults that `ray up` applies before it contacts
a provider. Token authentication is checked two ways: statically (every node and container gets
RAY_AUTH_MODE=token and the token, never as a literal), and on loopback, by starting a head and a
worker with the on-premise YAML's own `ray start` commands and environment.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
LAUNCHER_YAMLS = ["cluster-aws.yaml", "cluster-onprem.yaml"]
TOKEN_MODE = "RAY_AUTH_MODE"  # ray/_private/authentication/authentication_token_setup.py
TOKEN_VALUE = "RAY_AUTH_TOKEN"  # read by Ray's C++ AuthenticationTokenLoader (_raylet.so)
TOKEN_PATH = "RAY_AUTH_TOKEN_PATH"

# Field names of KubeRay's ray.io/v1 types (ray-operator/apis/ray/v1/rayjob_types.go and
# raycluster_types.go), so that a misspelt field, which the API server would drop, fails here.
RAYJOB_SPEC_FIELDS = {
    "activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate", "metadata",
    "clusterSelector", "submitterConfig", "managedBy", "deletionStrategy", "entrypoint",
    "runtimeEnvYAML", "jobId", "submissionMode", "entrypointResources", "entrypointNumCpus",
    "entrypointNumGpus", "ttlSecondsAfterFinished", "shutdownAfterJobFinishes", "suspend",
    "schedule",
}  # fmt: skip
RAYCLUSTER_SPEC_FIELDS = {
    "headGroupSpec", "workerGroupSpecs", "rayVersion", "enableInTreeAutoscaling",
    "autoscalerOptions", "headServiceAnnotations", "suspend", "authOptions",
}  # fmt: skip
HEAD_GROUP_FIELDS = {"serviceType", "headService", "enableIngress", "rayStartParams", "template"}
WORKER_GROUP_FIELDS = {
    "groupName", "replicas", "minReplicas", "maxReplicas", "numOfHosts", "rayStartParams",
    "template", "scaleStrategy", "suspend",
}  # fmt: skip


def load_yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += " " + line[:-1] if line.endswith("\\") else " " + line
        if not line.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(rest.split())))
            pending = ""
    return instructions


def dockerfile_args() -> dict[str, str]:
    return dict(a.split("=", 1) for k, a in dockerfile_instructions() if k == "ARG" and "=" in a)


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    return env


def run_option_env(config: dict[str, Any]) -> dict[str, str]:
    """The variables `--env NAME=VALUE` in docker.run_options set on every node's container."""
    env: dict[str, str] = {}
    for option in config["docker"]["run_options"]:
        words = shlex.split(option)
        if words[0] in ("--env", "-e"):
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


def ray_start_commands(config: dict[str, Any], key: str) -> list[list[str]]:
    """The `ray start ...` invocations in a launcher YAML's command list, as argument lists."""
    found = []
    for command in config[key]:
        for part in command.split(";"):
            words = shlex.split(part)
            if words[:2] == ["ray", "start"]:
                found.append(words[2:])
    return found


def ray_schema() -> dict[str, Any]:
    schema_path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    return json.loads(schema_path.read_text())


# Launcher YAMLs (`ray up`)


@pytest.mark.parametrize("name", LAUNCHER_YAMLS)
def test_launcher_yaml_passes_the_checks_ray_up_makes(name: str) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = load_yaml(name)
    jsonschema.validate(config, ray_schema())
    prepared = prepare_config(copy.deepcopy(config))  # defaults merged, as `ray up` does
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c.update(unknown_field=1),
        lambda c: c["docker"].update(image=7),
        lambda c: c["auth"].update(ssh_password="x"),
        lambda c: c.pop("provider"),
    ],
)
def test_the_schema_check_rejects_broken_configs(break_it) -> None:
    config = load_yaml("cluster-onprem.yaml")
    break_it(config)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, ray_schema())


@pytest.mark.parametrize("name", LAUNCHER_YAMLS)
def test_launcher_yaml_passes_the_token_to_every_node_without_writing_it(name: str) -> None:
    from ray.autoscaler._private.docker import docker_start_cmds

    config = load_yaml(name)
    env = run_option_env(config)
    assert env[TOKEN_MODE] == "token"
    assert TOKEN_VALUE not in env, "the token's value must not be on a docker command line"
    # file_mounts carries Ray's default token file to each node; the path Ray is told must be
    # where the launcher mounts it in the container, with the image's HOME for `~`.
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    home = dockerfile_env()["HOME"]
    docker_run = docker_start_cmds(
        "ubuntu", config["docker"]["image"], config["file_mounts"], "c",
        config["docker"]["run_options"], config["cluster_name"], home, "docker",
    )  # fmt: skip
    assert f":{env[TOKEN_PATH]} " in docker_run, docker_run
    assert env[TOKEN_PATH] == f"{home}/.ray/auth_token"
    # No node type replaces the options that carry the token.
    for node_type in config.get("available_node_types", {}).values():
        assert "run_options" not in node_type.get("docker", {})


@pytest.mark.parametrize("name", LAUNCHER_YAMLS)
def test_launcher_yaml_keeps_the_dashboard_on_loopback(name: str) -> None:
    config = load_yaml(name)
    assert "0.0.0.0" not in (DEPLOY / name).read_text()
    [head] = ray_start_commands(config, "head_start_ray_commands")
    [worker] = ray_start_commands(config, "worker_start_ray_commands")
    assert "--head" in head and "--dashboard-host=127.0.0.1" in head
    head_port = next(arg.split("=", 1)[1] for arg in head if arg.startswith("--port="))
    assert f"--address=$RAY_HEAD_IP:{head_port}" in worker


@pytest.mark.parametrize("name", LAUNCHER_YAMLS)
def test_launcher_ray_start_flags_exist_in_the_installed_ray(name: str) -> None:
    from ray.scripts.scripts import start

    config = load_yaml(name)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        for args in ray_start_commands(config, key):
            args = [arg.replace("$RAY_HEAD_IP", "10.0.0.1") for arg in args]
            start.make_context("ray start", args)  # raises on an unknown flag or a bad value


def test_launcher_yamls_and_the_dockerfile_agree_on_the_user() -> None:
    """uid 1000 reads the files the launcher mounts as the SSH user (uid 1000 on Ubuntu)."""
    useradd = [a for k, a in dockerfile_instructions() if k == "RUN" and "useradd" in a]
    assert len(useradd) == 1 and "--uid 1000" in useradd[0]
    user = [a for k, a in dockerfile_instructions() if k == "USER"][-1]
    assert user != "root" and dockerfile_env()["HOME"] == f"/home/{user}"


# KubeRay RayJob


def rayjob_containers(rayjob: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cluster = rayjob["spec"]["rayClusterSpec"]
    containers = {"submitter": rayjob["spec"]["submitterPodTemplate"]["spec"]["containers"][0]}
    containers["head"] = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    for group in cluster["workerGroupSpecs"]:
        containers[group["groupName"]] = group["template"]["spec"]["containers"][0]
    return containers


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def test_rayjob_uses_kuberay_v1_fields() -> None:
    rayjob = load_yaml("rayjob.yaml")
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    spec = rayjob["spec"]
    assert set(spec) <= RAYJOB_SPEC_FIELDS, set(spec) - RAYJOB_SPEC_FIELDS
    cluster = spec["rayClusterSpec"]
    assert set(cluster) <= RAYCLUSTER_SPEC_FIELDS, set(cluster) - RAYCLUSTER_SPEC_FIELDS
    assert set(cluster["headGroupSpec"]) <= HEAD_GROUP_FIELDS
    assert cluster["workerGroupSpecs"]
    for group in cluster["workerGroupSpecs"]:
        assert set(group) <= WORKER_GROUP_FIELDS, set(group) - WORKER_GROUP_FIELDS
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    # KubeRay's rayStartParams is map[string]string: a bare number or boolean is rejected.
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        assert all(isinstance(value, str) for value in group["rayStartParams"].values())


def test_rayjob_runs_tune_mtl_search_on_shared_storage() -> None:
    entrypoint = shlex.split(load_yaml("rayjob.yaml")["spec"]["entrypoint"])
    assert entrypoint[:2] == ["tune-mtl", "search"]
    storage = entrypoint[entrypoint.index("--storage-path") + 1]
    assert storage.startswith("s3://")
    assert entrypoint[entrypoint.index("--address") + 1] == "auto"


def test_rayjob_gives_every_container_the_token_from_a_secret() -> None:
    containers = rayjob_containers(load_yaml("rayjob.yaml"))
    assert {"submitter", "head"} < set(containers) and len(containers) >= 3
    for role, container in containers.items():
        env = env_of(container)
        assert env[TOKEN_MODE].get("value") == "token", role
        token = env[TOKEN_VALUE]
        assert "value" not in token, f"{role}: the token must come from a Secret"
        assert token["valueFrom"]["secretKeyRef"]["key"], role


def test_rayjob_takes_s3_credentials_from_a_secret_on_every_ray_node() -> None:
    containers = rayjob_containers(load_yaml("rayjob.yaml"))
    for role, container in containers.items():
        if role == "submitter":
            continue
        env = env_of(container)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert "value" not in env[name], f"{role}: {name} must come from a Secret"
            assert env[name]["valueFrom"]["secretKeyRef"]["name"], role


def test_rayjob_keeps_the_head_service_inside_the_cluster() -> None:
    head = load_yaml("rayjob.yaml")["spec"]["rayClusterSpec"]["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP"


def test_rayjob_dockerfile_and_installed_ray_are_one_version() -> None:
    rayjob = load_yaml("rayjob.yaml")
    assert rayjob["spec"]["rayClusterSpec"]["rayVersion"] == dockerfile_args()["RAY_VERSION"]
    assert dockerfile_args()["RAY_VERSION"] == ray.__version__
    images = {container["image"] for container in rayjob_containers(rayjob).values()}
    assert len(images) == 1, images


def test_no_deploy_file_holds_a_secret_value() -> None:
    pattern = re.compile(r"(AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|RAY_AUTH_TOKEN)=[^ .'\"]")
    for path in DEPLOY.iterdir():
        assert not pattern.search(path.read_text()), path.name


# Dockerfile


def test_dockerfile_installs_the_package_and_every_file_it_reads() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "ARG" and instructions[1] == ("FROM", "${PYTHON_IMAGE}")
    assert dockerfile_args()["PYTHON_IMAGE"].startswith("python:3.11")
    copied = {
        source
        for keyword, arguments in instructions
        if keyword == "COPY"
        for source in arguments.split()[:-1]
    }
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    data_files = pyproject["tool"]["setuptools"]["data-files"].values()
    data_dirs = {pattern.split("/")[0] for patterns in data_files for pattern in patterns}
    needed = {"pyproject.toml", pyproject["project"]["readme"], "tune_mtl", *data_dirs}
    assert needed <= copied, needed - copied
    kept = {
        line[1:] for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }  # fmt: skip
    assert needed <= kept, needed - kept
    [install] = [a for k, a in instructions if k == "RUN" and "pip install" in a]
    assert '"ray[default,tune]==${RAY_VERSION}"' in install and "/tmp/tune-mtl" in install


def test_dockerfile_has_what_the_launcher_and_kuberay_call() -> None:
    apt = " ".join(a for k, a in dockerfile_instructions() if k == "RUN" and "apt-get" in a)
    for package in ("openssh-client", "rsync", "wget"):
        assert package in apt.split(), package


# Every `tune-mtl search` command in deploy/ and in the README's cluster section


def readme_cluster_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Run on a cluster")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def search_commands() -> Iterator[tuple[str, list[str]]]:
    sources = {"deploy/rayjob.yaml": load_yaml("rayjob.yaml")["spec"]["entrypoint"]}
    sources["README.md"] = readme_cluster_section().replace("\\\n", " ")
    for where, text in sources.items():
        for match in re.finditer(r"tune-mtl search[^\n`\"']*", text):
            yield where, shlex.split(match.group(0))[2:]


def test_every_search_command_shown_parses_with_the_cli() -> None:
    import typer

    from tune_mtl.cli import app

    search = typer.main.get_command(app).commands["search"]  # type: ignore[attr-defined]
    commands = list(search_commands())
    assert len(commands) >= 3, commands
    for where, args in commands:
        try:
            search.make_context("search", list(args))  # raises on an unknown flag or bad value
        except Exception as error:
            raise AssertionError(f"{where}: {args} does not parse: {error}") from error


# Token authentication, live: the on-premise YAML's own `ray start` commands on loopback


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(host: str, port: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def stop_processes(marker: str) -> None:
    """Ends the Ray processes this test started: each one's command line names its temp dir."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        for pid in processes_mentioning(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while processes_mentioning(marker) and time.monotonic() < deadline:
            time.sleep(0.2)


def local_ray_start(args: list[str], *, port: int, object_manager_port: int) -> list[str]:
    """A YAML `ray start` made runnable here: free ports, no autoscaler config, loopback node."""
    replaced = {
        "--port": str(port),
        "--object-manager-port": str(object_manager_port),
    }
    runnable = []
    for arg in args:
        name, _, _ = arg.partition("=")
        if name == "--autoscaling-config":
            continue
        runnable.append(f"{name}={replaced[name]}" if name in replaced else arg)
    return [sys.executable, "-m", "ray.scripts.scripts", "start", *runnable, "--block"]


DRIVER = """
import sys, time, ray
ray.init(address=sys.argv[1])
deadline = time.monotonic() + 60
while time.monotonic() < deadline and sum(n["Alive"] for n in ray.nodes()) < 2:
    time.sleep(0.5)
print("alive nodes:", sum(n["Alive"] for n in ray.nodes()))
"""


@pytest.mark.slow
def test_token_from_the_onprem_yaml_admits_its_nodes_and_refuses_others() -> None:
    config = load_yaml("cluster-onprem.yaml")
    [head_args] = ray_start_commands(config, "head_start_ray_commands")
    [worker_args] = ray_start_commands(config, "worker_start_ray_commands")
    # A short path: Ray's Unix sockets live under the temp dir.
    with tempfile.TemporaryDirectory(prefix="tmrt", dir="/tmp") as scratch:
        home = Path(scratch)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        # The README's step: make the token on the machine that runs `ray up`.
        made = subprocess.run(
            [sys.executable, "-m", "ray.scripts.scripts", "get-auth-token", "--generate"],
            env={**base_env, "HOME": str(home)}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        token_file = home / ".ray" / "auth_token"
        # The YAML's environment, with the token where file_mounts would have put it.
        node_env = {**base_env, **run_option_env(config), TOKEN_PATH: str(token_file)}
        port = free_port()
        head_ip = "127.0.0.2"  # loopback that Ray does not rewrite to the machine's address
        temp = ["--temp-dir", str(home / "r"), "--node-ip-address", head_ip, "--num-cpus", "1"]
        head_cmd = local_ray_start(head_args, port=port, object_manager_port=free_port())
        worker_args = [re.sub(r"\$RAY_HEAD_IP:\d+", f"{head_ip}:{port}", a) for a in worker_args]
        worker_cmd = local_ray_start(worker_args, port=port, object_manager_port=free_port())
        try:
            with open(home / "head.log", "w") as head_log:
                head = subprocess.Popen(
                    [*head_cmd, *temp, "--include-dashboard=false"], env=node_env,
                    stdout=head_log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            wait_for_port(head_ip, port, timeout=120)
            with open(home / "worker.log", "w") as worker_log:
                subprocess.Popen(
                    [*worker_cmd, *temp], env=node_env, stdout=worker_log, stderr=subprocess.STDOUT
                )
            address = f"{head_ip}:{port}"
            joined = subprocess.run(
                [sys.executable, "-c", DRIVER, address], env=node_env,
                capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            logs = "\n".join(
                (home / f"{node}.log").read_text()[-1500:] for node in ("head", "worker")
            )
            assert joined.returncode == 0, joined.stderr[-2000:] + logs
            assert "alive nodes: 2" in joined.stdout, joined.stdout + logs

            (home / "wrong").write_text("not-the-cluster-token")
            stranger_env = {**node_env, TOKEN_PATH: str(home / "wrong")}
            stranger_env["RAY_gcs_rpc_server_connect_timeout_s"] = "5"
            refused = subprocess.run(
                [sys.executable, "-c", DRIVER, address], env=stranger_env,
                capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            assert refused.returncode != 0
            assert "InvalidAuthToken" in refused.stderr, refused.stderr[-2000:]
            assert head.poll() is None, "the head stopped during the test"
        finally:
            stop_processes(scratch)
