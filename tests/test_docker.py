"""Docker commands: the page's line reproduced as written, and a least-privilege default."""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kimi_cookbook import docker as dk
from kimi_cookbook import jit_cache

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "002_183d36ebb45c81bb.txt"


def test_page_exact_is_the_pages_line():
    text = dk.docker_run("mi300x", page_exact=True)
    assert text.startswith("docker run -d -it --ipc=host --network=host --privileged \\\n")
    assert "lmsysorg/sglang:v0.5.7-rocm700-mi30x \\\n  /bin/bash" in text
    if SEED.exists():
        assert text in SEED.read_text()


def test_pull_and_preinstall_match_the_page():
    assert dk.docker_pull("mi325x") == "docker pull lmsysorg/sglang:v0.5.7-rocm700-mi30x"
    assert dk.docker_pull("mi355x") == "docker pull lmsysorg/sglang:v0.5.7-rocm700-mi35x"
    assert dk.preinstall() == "pip install sentencepiece tiktoken"
    assert dk.preinstall("kimi") == "docker exec kimi bash -lc 'pip install sentencepiece tiktoken'"


@pytest.mark.parametrize("hardware", ["mi300x", "mi325x", "mi355x", "h100", "h200", "b200"])
def test_default_is_least_privilege(hardware):
    text = dk.docker_run(hardware)
    for risky in ["--privileged", "CAP_SYS_ADMIN", "SYS_PTRACE", "/dev/mem", "seccomp", "-v /:", "--ipc=host",
                  "--network=host"]:
        assert risky not in text
    assert "-p 127.0.0.1:30000:30000" in text
    assert "--shm-size 32g" in text
    if hardware.startswith("mi"):
        assert "--device=/dev/kfd --device=/dev/dri --group-add video" in text and "--gpus" not in text
    else:
        assert "--gpus all" in text and "/dev/kfd" not in text
    words = shlex.split(text.replace("\\\n", " "))
    assert words[-1] == "/bin/bash" and words[-2] == dk.image_for(hardware)


def test_every_page_flag_left_out_is_explained():
    page_flags = re.findall(r"(--[\w-]+(?:=\S+)?|-v /:/work)", dk.docker_run("mi300x", page_exact=True))
    default = dk.docker_run("mi300x")
    left_out = {f for f in page_flags if f not in default and f not in ("--name", "-e")}
    left_out.discard("--security-opt")  # explained together with its value
    assert "seccomp=unconfined" in " ".join(dk.RISKY_FLAGS)
    assert {"--privileged", "--cap-add=CAP_SYS_ADMIN", "--cap-add=SYS_PTRACE", "--device=/dev/mem"} <= left_out
    for flag in left_out:
        assert any(flag in key for key in dk.RISKY_FLAGS), flag


def test_paths_and_names_are_quoted():
    text = dk.docker_run("h100", model_cache="/data/hf cache", workdir="~/my work; rm -rf /")
    words = shlex.split(text.replace("\\\n", " "))
    assert "/data/hf cache:/root/.cache/huggingface" in words
    assert "-w" in words
    assert "~/" + shlex.quote("my work; rm -rf /:/workspace") in text
    with pytest.raises(ValueError, match="container name"):
        dk.docker_run("h100", name="x; reboot")


def test_hf_token_passed_by_name_only(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    text = dk.docker_run("h100", pass_hf_token=True)
    assert "-e HF_TOKEN" in text and "hf_secret_value" not in text


@pytest.mark.parametrize("kwargs, message", [
    ({"port": 0}, "port must be a whole number between 1 and 65535"),
    ({"port": "80; reboot"}, "port must be a whole number"),
    ({"shm_size": "lots"}, "not a docker size"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dk.docker_run("mi300x", **kwargs)


def test_page_exact_for_nvidia_is_an_error():
    with pytest.raises(ValueError, match="the page has no docker command for H100"):
        dk.docker_run("h100", page_exact=True)


def test_check_host_reports_without_failing(monkeypatch, tmp_path):
    # A PATH with none of the tools: reported as missing, no exception.
    monkeypatch.setenv("PATH", str(tmp_path))
    report = dk.check_host()
    assert set(report.found) == {"nvidia-smi", "amd-smi", "rocm-smi", "docker"}
    assert all(v is None for v in report.found.values())
    assert report.vendor is None and "No GPU tools found" in report.summary()


def test_check_host_queries_the_real_docker_client():
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    report = dk.check_host()
    assert report.found["docker"] == shutil.which("docker")
    assert report.output["docker"].startswith("Docker version")


def test_bare_home_cache_expands_in_a_shell():
    line = next(x for x in dk.docker_run("h100", model_cache="~").splitlines() if x.strip().startswith("-v"))
    words = shlex.split(line.strip().rstrip("\\"))
    assert words[1] == '$HOME:/root/.cache/huggingface'  # shlex keeps $HOME for the shell to expand
    out = subprocess.run(["bash", "-c", "printf %s " + line.strip().rstrip("\\").split(None, 1)[1]],
                         capture_output=True, text=True, env={**os.environ, "HOME": "/home/u"}).stdout
    assert out == "/home/u:/root/.cache/huggingface"


def test_page_exact_quotes_a_custom_image():
    assert "'my image;x' \\\n  /bin/bash" in dk.docker_run("mi300x", page_exact=True, image="my image;x")


def test_execute_reports_docker_failures():
    if subprocess.run(["which", "docker"], capture_output=True).returncode:
        with pytest.raises(RuntimeError, match="docker is not installed"):
            dk.execute("docker info")
    else:  # a client without an engine (CI): docker's own error comes back in the message
        with pytest.raises(RuntimeError, match="exit status"):
            dk.execute("docker info --format '{{.ServerVersion}}' && false")


# --- Compose ----------------------------------------------------------------------------------------
def _compose_argv(service: dict) -> list[str]:
    """The launch argv inside a generated service, as Compose passes it ($$ -> $), without the pre-install."""
    words = [w.replace("$$", "$") for w in service["command"]]
    if words[:2] == ["bash", "-c"]:
        pre, _, launch = words[2].partition(" && exec ")
        assert pre == dk.PREINSTALL
        return shlex.split(launch)
    return words


def test_compose_spec_is_packaged_with_its_source():
    schema = dk.load_compose_schema()
    assert schema["title"] == "Compose Specification" and "service" in schema["definitions"]
    sources = (Path(dk.__file__).parent / "data" / "SOURCES.md").read_text()
    assert "github.com/compose-spec/compose-spec" in sources and "schema/compose-spec.json" in sources


@pytest.mark.parametrize("hardware", ["mi300x", "mi325x", "mi355x", "h100", "h200", "b200"])
def test_compose_validates_and_runs_the_selectors_command(hardware):
    import yaml

    from kimi_cookbook.selector import build_launch_spec

    text = dk.compose_yaml(hardware, enable_metrics=True, tool_call_parser="kimi_k2")
    dk.validate_compose(text)  # the Compose Specification's JSON schema
    service = yaml.safe_load(text)["services"][dk.COMPOSE_SERVICE]
    spec = build_launch_spec(hardware, host="0.0.0.0", port=30000, enable_metrics=True, tool_call_parser="kimi_k2")
    assert _compose_argv(service) == spec.argv("python3")
    assert service["image"] == dk.image_for(hardware)
    jit = [f"{k}={v}" for k, v in jit_cache.container_env().items()]
    assert [e for e in service["environment"] if "=" in e] == [f"{k}={v}" for k, v in spec.env.items()] + jit
    assert "HF_TOKEN" in service["environment"]  # by name: Compose takes the value from its own environment
    assert service["ports"] == ["127.0.0.1:30000:30000"]
    assert service["volumes"] == ["${HOME}/.cache/huggingface:/root/.cache/huggingface",
                                  f"{jit_cache.VOLUME}:{jit_cache.CONTAINER_DIR}"]
    assert "/health" in " ".join(service["healthcheck"]["test"])
    for risky in ("privileged", "network_mode", "ipc", "cap_add", "pid"):
        assert risky not in service
    if hardware.startswith("mi"):
        assert service["devices"] == ["/dev/kfd", "/dev/dri"] and service["group_add"] == ["video"]
        assert "deploy" not in service
    else:
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device == {"driver": "nvidia", "count": int(spec.option("--tp")), "capabilities": ["gpu"]}
        assert "devices" not in service


def test_compose_cli_output_validates(capsys, tmp_path, monkeypatch):
    from kimi_cookbook.cli import main

    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    assert main(["docker", "--compose", "--hardware", "mi300x"]) == 0
    text = capsys.readouterr().out
    dk.validate_compose(text)
    assert "hf_secret_value" not in text
    out = tmp_path / "compose.yaml"
    assert main(["docker", "--compose", "--hardware", "h100", "--tp", "4", "-o", str(out)]) == 0
    dk.validate_compose(out.read_text())
    assert "count: 4" in out.read_text() and "docker compose -f" in capsys.readouterr().out


def test_compose_escapes_dollars_and_quotes_values():
    import yaml

    service = yaml.safe_load(dk.compose_yaml("h100", model_cache="/data/$USER cache", model="/models/a b$x"))[
        "services"][dk.COMPOSE_SERVICE]
    assert service["volumes"][0] == "/data/$$USER cache:/root/.cache/huggingface"
    assert _compose_argv(service)[3:5] == ["--model-path", "/models/a b$x"]


def test_compose_for_another_sglang_version():
    import yaml

    from kimi_cookbook.selector import build_launch_spec
    from kimi_cookbook.versions import VALIDATED_VERSION

    text = dk.compose_yaml("b200", sglang_version=VALIDATED_VERSION)
    dk.validate_compose(text)
    service = yaml.safe_load(text)["services"][dk.COMPOSE_SERVICE]
    assert service["image"] == dk.image_for("b200", VALIDATED_VERSION)
    spec = build_launch_spec("b200", host="0.0.0.0", port=30000, sglang_version=VALIDATED_VERSION)
    assert _compose_argv(service) == spec.argv("python3")


def test_compose_without_preinstall_is_the_bare_argv():
    import yaml

    from kimi_cookbook.selector import build_launch_spec

    service = yaml.safe_load(dk.compose_yaml("mi355x", preinstall=False))["services"][dk.COMPOSE_SERVICE]
    assert service["command"] == build_launch_spec("mi355x", host="0.0.0.0", port=30000).argv("python3")


@pytest.mark.parametrize("kwargs, message", [
    ({"port": 70000}, "port must be a whole number"),
    ({"host": "127.0.0.1"}, "set by the Compose file itself"),
    ({"project": "Bad Name"}, "project name"),
    ({"tp": 3}, "does not divide"),
])
def test_compose_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dk.compose_spec("mi300x", **kwargs)


def test_validate_compose_names_the_problem():
    with pytest.raises(ValueError, match="at services/sglang: 'gpu_count' does not match any of the regexes"):
        dk.validate_compose({"services": {"sglang": {"image": "x", "gpu_count": 2}}})
