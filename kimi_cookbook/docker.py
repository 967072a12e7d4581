"""Docker set-up: pull/run/exec commands for the ROCm and CUDA images, and a host check.

``docker_run(hardware, page_exact=True)`` reproduces the page's ``docker run`` line as written. The default
is least privilege; ``RISKY_FLAGS`` explains every flag the page uses that the default leaves out.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass, field

from kimi_cookbook import jit_cache, versions
from kimi_cookbook.errors import RunError
from kimi_cookbook.hardware import MAX_TP, VISIBLE_DEVICES_ENV, get_gpu

PREINSTALL = "pip install sentencepiece tiktoken"
CONTAINER_CACHE = "/root/.cache/huggingface"
CONTAINER_WORKDIR = "/workspace"

# The page's `docker run` (its section 4.2.1), as written, for the image of the chosen hardware.
_PAGE_RUN = """docker run -d -it --ipc=host --network=host --privileged \\
  --cap-add=CAP_SYS_ADMIN \\
  --device=/dev/kfd --device=/dev/dri --device=/dev/mem \\
  --group-add video --cap-add=SYS_PTRACE \\
  --security-opt seccomp=unconfined \\
  -v /:/work \\
  -e SHELL=/bin/bash \\
  --name Kimi-linear \\
  {image} \\
  /bin/bash"""

RISKY_FLAGS: dict[str, str] = {
    "--privileged": "gives the container every capability and all host devices: root in the container is "
    "root on the host. Not needed to use the GPUs; /dev/kfd and /dev/dri are enough.",
    "--cap-add=CAP_SYS_ADMIN": "near-root on the host kernel (mount, namespaces). Only profilers need it.",
    "--cap-add=SYS_PTRACE": "lets processes trace others (debuggers, rocprof). Not needed to serve.",
    "--device=/dev/mem": "raw access to host physical memory. Never needed to serve a model.",
    "--security-opt seccomp=unconfined": "turns off the system-call filter. Some ROCm profiling/debug tools "
    "need it; serving does not.",
    "-v /:/work": "mounts the whole host filesystem read-write into the container. Mount only the model cache "
    "and a work folder instead.",
    "--network=host": "shares the host's network stack: the server's port is open on every host interface "
    "unless it binds 127.0.0.1. The default publishes the port on 127.0.0.1 only.",
    "--ipc=host": "shares host IPC (shared memory) with the container. PyTorch workers need a large /dev/shm; "
    "--shm-size gives that without sharing the host's IPC namespace.",
}


def _volume_flag(path: str, target: str, what: str) -> str:
    """The ``docker run`` flag that mounts host ``path`` at ``target``: ``-v PATH:TARGET``, or ``--mount`` when the
    path holds a ``:`` (which ``-v`` would read as a separator); a leading ``~`` stays the user's home."""
    if not isinstance(path, str) or not path.strip() or "\n" in path or "\0" in path:
        raise ValueError(f"{what} must be a host folder, got {path!r}")
    if ":" not in path:
        return f"-v {_quote_path(path + ':' + target)}"
    if "," in path or '"' in path:
        raise ValueError(f"{what} {path!r} holds ':' and ',' or '\"': docker cannot mount it (neither -v nor "
                         "--mount can say it); use a path without them, e.g. a symlink to it")
    if path == "~" or path.startswith("~/"):
        return f'--mount "type=bind,source=$HOME"{shlex.quote(path[1:] + ",target=" + target)}'
    return f"--mount {shlex.quote(f'type=bind,source={path},target={target}')}"


def _quote_path(path: str) -> str:
    """Quote a host path for the shell, keeping a leading ``~/`` expandable."""
    if path == "~" or path.startswith("~:"):  # a bare ~ followed by ':' would not expand: use $HOME
        return '"$HOME"' + (shlex.quote(path[1:]) if len(path) > 1 else "")
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


def _check_volume(volume: str | None) -> str | None:
    """A Docker named-volume name for the JIT caches (None or "" leaves them in the container)."""
    if not volume:
        return None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]+", volume):
        raise ValueError(f"JIT cache volume {volume!r} is not a Docker volume name: use letters, digits, '_', '.', "
                         "'-' (a named volume, not a host path)")
    return volume


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):
        raise ValueError(f"container name {name!r} is not valid: use letters, digits, '_', '.', '-'")
    return name


def image_for(hardware: str, sglang_version: str | None = None) -> str:
    """The SGLang image for ``hardware`` (:func:`kimi_cookbook.versions.get`: the page's release by default)."""
    return versions.get(sglang_version).image(hardware)


def docker_pull(hardware: str = "mi300x", image: str | None = None, sglang_version: str | None = None) -> str:
    return f"docker pull {shlex.quote(image or image_for(hardware, sglang_version))}"


def docker_run(
    hardware: str = "mi300x",
    *,
    page_exact: bool = False,
    name: str = "kimi-linear",
    image: str | None = None,
    model_cache: str = "~/.cache/huggingface",
    workdir: str | None = None,
    port: int = 30000,
    shm_size: str = "32g",
    host_network: bool = False,
    pass_hf_token: bool = False,
    sglang_version: str | None = None,
    jit_volume: str | None = jit_cache.VOLUME,
) -> str:
    """The ``docker run`` command that starts a detached container with a shell.

    ``page_exact=True`` returns the page's line as written (AMD only; the page has no NVIDIA line).
    The default: GPUs only through their device files (AMD) or ``--gpus all`` (NVIDIA), the model cache and
    an optional work folder mounted, ``--shm-size`` instead of ``--ipc=host``, the server port published on
    127.0.0.1 only. ``pass_hf_token`` forwards ``HF_TOKEN`` by name (its value never appears in the command).
    ``jit_volume``: a named Docker volume that keeps SGLang's JIT kernel caches across container restarts
    (:mod:`kimi_cookbook.jit_cache`; a second start skips most compilation); None or "" leaves it out.
    """
    gpu = get_gpu(hardware)
    image = image or image_for(hardware, sglang_version)
    if page_exact:
        if not gpu.is_rocm:
            raise ValueError(f"the page has no docker command for {gpu.label} (NVIDIA); use page_exact=False")
        return _PAGE_RUN.format(image=shlex.quote(image))
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be a whole number between 1 and 65535, got {port!r}")
    if not re.fullmatch(r"\d+[bkmg]?", str(shm_size)):
        raise ValueError(f"shm_size {shm_size!r} is not a docker size such as '32g'")
    jit_volume = _check_volume(jit_volume)
    lines = ["docker run -d -it"]
    if gpu.is_rocm:
        lines.append("--device=/dev/kfd --device=/dev/dri --group-add video")
    else:
        lines.append("--gpus all")
    lines.append(f"--shm-size {shm_size}")
    lines.append("--network=host" if host_network else f"-p 127.0.0.1:{int(port)}:{int(port)}")
    lines.append(_volume_flag(model_cache, CONTAINER_CACHE, "model_cache"))
    if workdir:
        lines.append(f"{_volume_flag(workdir, CONTAINER_WORKDIR, 'workdir')} -w {CONTAINER_WORKDIR}")
    if jit_volume:
        lines.append(f"-v {jit_volume}:{jit_cache.CONTAINER_DIR}")
        lines += [f"-e {k}={v}" for k, v in jit_cache.container_env().items()]
    if pass_hf_token:
        lines.append("-e HF_TOKEN")
    lines.append(f"--name {_check_name(name)}")
    lines.append(shlex.quote(image))
    lines.append("/bin/bash")
    return " \\\n  ".join(lines)


def docker_exec(name: str = "kimi-linear", command: str | None = None) -> str:
    """Open a shell in the container, or run ``command`` (a shell string, passed to ``bash -lc``) in it."""
    name = _check_name(name)
    if command is None:
        return f"docker exec -it {name} /bin/bash"
    return f"docker exec {name} bash -lc {shlex.quote(command)}"


def preinstall(name: str | None = None) -> str:
    """The page's pre-install step; with ``name``, run it in that container from the host."""
    return PREINSTALL if name is None else docker_exec(name, PREINSTALL)


def server_in_container_note(host_network: bool = False) -> str:
    if host_network:
        return "With --network=host the server's default --host 127.0.0.1 is reachable from the host only."
    return ("With the port published on 127.0.0.1, launch the server inside the container with "
            "--host 0.0.0.0 (it then listens inside the container's own network only).")


# --- Docker Compose ----------------------------------------------------------------------------------
# The Compose Specification's JSON schema, packaged for the tests and for validate_compose():
# kimi_cookbook/data/compose-spec.json, a copy of schema/compose-spec.json from
# https://github.com/compose-spec/compose-spec (last changed in commit a08f8d51631b7127ddac3d2c65537db429d0f1d0,
# 2025-10-28; Apache-2.0). See kimi_cookbook/data/SOURCES.md.
COMPOSE_SCHEMA = "compose-spec.json"
COMPOSE_SERVICE = "sglang"
COMPOSE_ROUTER = "router"  # with replicas: SGLang's router, in front of services sglang-0, sglang-1, ...
HEALTH_START_PERIOD = "30m"  # first start downloads ~100 GB of weights and compiles kernels (server.SGLANG_TIMEOUT_S)


def _compose_escape(text: str) -> str:
    """Compose interpolates ``$VAR`` in every value: a literal ``$`` is written ``$$``."""
    return text.replace("$", "$$")


def _compose_path(path: str) -> str:
    """A host path for Compose: ``$`` escaped, a leading ``~`` as ``${HOME}`` (which Compose expands)."""
    escaped = _compose_escape(path)
    if escaped == "~" or escaped.startswith("~/"):
        return "${HOME}" + escaped[1:]
    return escaped


def _compose_volume(model_cache: str):
    """The model cache's Compose volume: ``HOST:CONTAINER``, or the long form (``type: bind``, ``source``,
    ``target``) when the host path holds a ``:``, which the short form would split on."""
    if not isinstance(model_cache, str) or not model_cache.strip() or "\n" in model_cache or "\0" in model_cache:
        raise ValueError(f"model_cache must be a host folder, got {model_cache!r}")
    if ":" in model_cache:
        return {"type": "bind", "source": _compose_path(model_cache), "target": CONTAINER_CACHE}
    return f"{_compose_path(model_cache)}:{CONTAINER_CACHE}"


def compose_spec(
    hardware: str = "mi300x",
    *,
    image: str | None = None,
    port: int = 30000,
    model_cache: str = "~/.cache/huggingface",
    shm_size: str = "32g",
    pass_hf_token: bool = True,
    preinstall: bool = True,
    project: str = "kimi-linear",
    sglang_version: str | None = None,
    jit_volume: str | None = jit_cache.VOLUME,
    replicas: int = 1,
    policy: str = "cache_aware",
    **knobs,
) -> dict:
    """A Compose file (as a dict) that runs the selector's launch command for ``hardware`` in its image.

    Least privilege, as :func:`docker_run`'s default: the GPUs through their device files and the ``video``
    group (AMD) or a device reservation for as many GPUs as ``--tp`` (NVIDIA), ``shm_size`` instead of the
    host's IPC, the port published on 127.0.0.1 only (the server listens on 0.0.0.0 inside the container's
    own network), only the model cache mounted, ``no-new-privileges``. ``HF_TOKEN`` is passed by name
    (Compose takes its value from the shell that runs ``docker compose up``). ``knobs`` go to
    :func:`kimi_cookbook.selector.build_launch_spec` (``tp``, ``tool_call_parser``, ``enable_metrics``, ...);
    ``host`` and ``port`` are set here. ``sglang_version`` picks the image tag and the version's flags (default: the
    page's 0.5.7). With ``preinstall`` the page's ``pip install sentencepiece tiktoken``
    runs before the server (``bash -c '... && exec python3 -m sglang.launch_server ...'``).
    The healthcheck polls SGLang's ``/health`` (200 only after its warm-up generation) with the image's python3.
    ``jit_volume`` (a named volume, declared in the file) keeps SGLang's JIT kernel caches across restarts.

    ``replicas`` > 1: that many servers (services ``sglang-0``, ``sglang-1``, ...), each pinned to its own ``tp``
    GPUs of the node (NVIDIA: a reservation of those ``device_ids``; AMD: ``HIP_VISIBLE_DEVICES``), none published,
    sharing the JIT volume, and SGLang's router (service ``router``, ``policy``) in front of them on ``port``: it
    starts only once every server is healthy (``depends_on: condition: service_healthy``), drops every capability
    and mounts nothing; its healthcheck is the router's ``/readiness``.
    """
    from kimi_cookbook.selector import build_launch_spec

    gpu = get_gpu(hardware)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be a whole number between 1 and 65535, got {port!r}")
    if not re.fullmatch(r"\d+[bkmg]?", str(shm_size)):
        raise ValueError(f"shm_size {shm_size!r} is not a docker size such as '32g'")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", project or ""):
        raise ValueError(f"project name {project!r} is not valid: use lower-case letters, digits, '_', '-'")
    jit_volume = _check_volume(jit_volume)
    bad = {"host", "port"} & set(knobs)
    if bad:
        raise ValueError(f"{sorted(bad)} are set by the Compose file itself (port=..., host 0.0.0.0 inside)")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= MAX_TP:
        raise ValueError(f"replicas must be a whole number from 1 to {MAX_TP} (servers on one node), got {replicas!r}")
    spec = build_launch_spec(gpu.id, host="0.0.0.0", port=port, sglang_version=sglang_version, **knobs)
    tp = int(spec.option("--tp") or 1)
    if replicas * tp > MAX_TP:
        raise ValueError(f"{replicas} replicas of tp {tp} need {replicas * tp} GPUs; one node has at most {MAX_TP}: "
                         "fewer replicas or a smaller tp")
    image = image or image_for(gpu.id, sglang_version)
    server = {"gpu": gpu, "spec": spec, "image": image, "port": port, "model_cache": model_cache,
              "shm_size": shm_size, "pass_hf_token": pass_hf_token, "preinstall": preinstall, "jit_volume": jit_volume}
    if replicas == 1:
        services = {COMPOSE_SERVICE: _server_service(**server, publish=True)}
    else:
        services = {f"{COMPOSE_SERVICE}-{i}": _server_service(**server, publish=False,
                                                               gpus=list(range(i * tp, (i + 1) * tp)))
                    for i in range(replicas)}
        services[COMPOSE_ROUTER] = _router_service(image, list(services), port, policy)
    spec_doc: dict = {"name": project, "services": services}
    if jit_volume:
        spec_doc["volumes"] = {jit_volume: {}}  # a named volume Compose creates (as <project>_<name>)
    return spec_doc


def _health_probe(port: int, path: str) -> str:
    return f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=10)"


def _server_service(*, gpu, spec, image: str, port: int, model_cache: str, shm_size: str, pass_hf_token: bool,
                    preinstall: bool, jit_volume: str | None, publish: bool, gpus: list[int] | None = None) -> dict:
    """One SGLang server's service: ``gpus`` pins it to those GPUs (None: as many as its tp, any)."""
    argv = spec.argv("python3")
    command = ["bash", "-c", f"{PREINSTALL} && exec {shlex.join(argv)}"] if preinstall else argv
    environment = [f"{k}={v}" for k, v in spec.env.items()]
    if gpus is not None and gpu.is_rocm:
        environment.append(f"{VISIBLE_DEVICES_ENV[gpu.vendor]}={','.join(map(str, gpus))}")
    if jit_volume:
        environment += [f"{k}={v}" for k, v in jit_cache.container_env().items()]
    if pass_hf_token:
        environment.append("HF_TOKEN")  # name only: the value comes from the environment of `docker compose`
    service: dict = {"image": image, "command": [_compose_escape(w) for w in command]}
    if environment:
        service["environment"] = [_compose_escape(e) for e in environment]
    if gpu.is_rocm:
        service["devices"] = ["/dev/kfd", "/dev/dri"]
        service["group_add"] = ["video"]
    else:
        device: dict = {"driver": "nvidia"}
        if gpus is None:
            device["count"] = int(spec.option("--tp") or 1)
        else:
            device["device_ids"] = [str(g) for g in gpus]
        device["capabilities"] = ["gpu"]
        service["deploy"] = {"resources": {"reservations": {"devices": [device]}}}
    if publish:
        service["ports"] = [f"127.0.0.1:{port}:{port}"]
    service.update({
        "volumes": [_compose_volume(model_cache)]
        + ([f"{jit_volume}:{jit_cache.CONTAINER_DIR}"] if jit_volume else []),
        "shm_size": shm_size,
        "security_opt": ["no-new-privileges:true"],
        "healthcheck": {
            "test": ["CMD", "python3", "-c", _health_probe(port, "/health")],
            "interval": "30s",
            "timeout": "15s",
            "retries": 3,
            "start_period": HEALTH_START_PERIOD,
        },
        "restart": "unless-stopped",
    })
    return service


def _router_service(image: str, servers: list[str], port: int, policy: str) -> dict:
    """SGLang's router in front of the ``servers`` services: started once they are healthy, no capability, no
    mount, published on 127.0.0.1 only. The CUDA images build the router in; elsewhere it is installed at the
    version the cookbook was tested with."""
    from kimi_cookbook.router import ROUTER_MODULE, ROUTER_REQUIREMENT, router_argv

    argv = router_argv([f"http://{name}:{port}" for name in servers], host="0.0.0.0", port=port, policy=policy,
                       python="python3")
    package = ROUTER_MODULE.split(".")[0]
    install = f"python3 -c 'import {package}' 2>/dev/null || pip install {shlex.quote(ROUTER_REQUIREMENT)}"
    return {
        "image": image,
        "command": ["bash", "-c", _compose_escape(f"{install} && exec {shlex.join(argv)}")],
        "depends_on": {name: {"condition": "service_healthy"} for name in servers},
        "ports": [f"127.0.0.1:{port}:{port}"],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "healthcheck": {
            "test": ["CMD", "python3", "-c", _health_probe(port, "/readiness")],
            "interval": "30s",
            "timeout": "15s",
            "retries": 3,
            "start_period": "5m",
        },
        "restart": "unless-stopped",
    }


def compose_yaml(hardware: str = "mi300x", **kw) -> str:
    """:func:`compose_spec` as ``compose.yaml`` text, with a header saying how to use it."""
    import yaml

    spec = compose_spec(hardware, **kw)
    gpu = get_gpu(hardware)
    services = spec["services"]
    front = services.get(COMPOSE_ROUTER) or services[COMPOSE_SERVICE]
    port = front["ports"][0].rsplit(":", 1)[1]
    replicas = len(services) - 1 if COMPOSE_ROUTER in services else 1
    flags = f" --replicas {replicas}" if replicas > 1 else ""
    behind = (f"# It is SGLang's router, in front of {replicas} servers (sglang-0 ... sglang-{replicas - 1}), which "
              "start first; the router waits until all are healthy.\n" if replicas > 1 else "")
    header = (
        f"# Kimi-Linear on SGLang, {gpu.label}: generated by `kimi-cookbook docker --compose --hardware {gpu.id}"
        f"{flags}`.\n"
        "# Start: docker compose up -d    Logs: docker compose logs -f    Stop: docker compose down\n"
        f"# Ready when `docker compose ps` says healthy; the API is at http://127.0.0.1:{port}/v1 (this host only).\n"
        f"{behind}"
    )
    return header + yaml.safe_dump(spec, sort_keys=False, default_flow_style=False, width=100)


_FINGERPRINT = "# kimi-cookbook fingerprint (-o rewrites this file only while it matches; --force otherwise): "


def _fingerprint(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def with_fingerprint(text: str) -> str:
    """``text`` (a Compose file) with a last comment line fingerprinting it: what ``docker --compose -o`` writes, so
    that a later ``-o`` can tell its own unedited file (:func:`written_by_cookbook`) from anyone else's."""
    return text + f"{_FINGERPRINT}{_fingerprint(text)}\n"


def written_by_cookbook(text: str) -> bool:
    """Whether ``text`` is a Compose file :func:`compose_yaml` wrote and nobody edited since: its last line is
    the fingerprint of everything above it."""
    body, sep, last = text.rstrip("\n").rpartition("\n")
    return bool(sep) and last.startswith(_FINGERPRINT) and last[len(_FINGERPRINT):] == _fingerprint(body + "\n")


def load_compose_schema() -> dict:
    from importlib.resources import files

    return json.loads(files("kimi_cookbook").joinpath("data", COMPOSE_SCHEMA).read_text(encoding="utf-8"))


def validate_compose(document: dict | str) -> None:
    """Raise ``ValueError`` naming the first problem if ``document`` (dict or YAML text) breaks the Compose schema."""
    import jsonschema
    import yaml

    data = yaml.safe_load(document) if isinstance(document, str) else document
    validator = jsonschema.Draft7Validator(load_compose_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ValueError(f"not a valid Compose file at {where}: {error.message}")


# --- host check --------------------------------------------------------------------------------------
TOOLS = {
    "nvidia-smi": ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
    "amd-smi": ["amd-smi", "static", "--asic"],
    "rocm-smi": ["rocm-smi", "--showproductname"],
    "docker": ["docker", "--version"],
}


@dataclass
class HostReport:
    found: dict[str, str | None] = field(default_factory=dict)  # tool -> path or None
    output: dict[str, str] = field(default_factory=dict)  # tool -> first lines of its output

    @property
    def vendor(self) -> str | None:
        if self.found.get("nvidia-smi"):
            return "nvidia"
        if self.found.get("amd-smi") or self.found.get("rocm-smi"):
            return "amd"
        return None

    def summary(self) -> str:
        lines = [f"{tool:<11} {'found at ' + path if path else 'not found'}" for tool, path in self.found.items()]
        for tool, out in self.output.items():
            lines.append(f"--- {tool}:\n{out}")
        if self.vendor is None:
            lines.append("No GPU tools found: this machine can build commands and run the embedded CPU "
                         "server, but SGLang itself needs an AMD or NVIDIA GPU host.")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "vendor": self.vendor}


def check_host(timeout: float = 10.0, max_lines: int = 8) -> HostReport:
    """Which of rocm-smi, amd-smi, nvidia-smi and docker are here, with a short query of each found.

    Never raises for a missing tool or a tool that fails: that is reported.
    """
    report = HostReport()
    for tool, cmd in TOOLS.items():
        path = shutil.which(tool)
        report.found[tool] = path
        if not path:
            continue
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            text = (proc.stdout or proc.stderr).strip()
            if proc.returncode:
                text = f"(exit {proc.returncode}) {text}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            text = f"(failed: {exc})"
        report.output[tool] = "\n".join(text.splitlines()[:max_lines])
    return report


def execute(command: str, timeout: float | None = None) -> str:
    """Run a generated docker command on this host (``bash -c``), streaming its output.

    Raises ``RuntimeError`` with the output's last lines when docker is missing or the command fails
    (a docker client without a running engine fails here with docker's own message).
    """
    if shutil.which("docker") is None:
        raise RunError("docker is not installed on this host; copy the command to a GPU host instead")
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode:
        tail = "\n".join(out.splitlines()[-15:])
        raise RunError(f"command failed with exit status {proc.returncode}:\n{tail}")
    return out
