"""Docker commands: the page's line reproduced as written, and a least-privilege default."""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from kimi_cookbook import docker as dk

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
    for flag in left_out - {"--cap-add=CAP_SYS_ADMIN", "--cap-add=SYS_PTRACE"}:
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
    ({"port": 0}, "port must be between"), ({"shm_size": "lots"}, "not a docker size"),
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


def test_check_host_runs_a_tool_that_is_there(monkeypatch, tmp_path):
    # A real executable named nvidia-smi that fails: the failure is reported, not raised.
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate' >&2\nexit 9\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    report = dk.check_host()
    assert report.vendor == "nvidia"
    assert report.output["nvidia-smi"].startswith("(exit 9) NVIDIA-SMI has failed")


def test_execute_reports_docker_failures():
    if subprocess.run(["which", "docker"], capture_output=True).returncode:
        with pytest.raises(RuntimeError, match="docker is not installed"):
            dk.execute("docker info")
    else:  # a client without an engine (CI): docker's own error comes back in the message
        with pytest.raises(RuntimeError, match="exit status"):
            dk.execute("docker info --format '{{.ServerVersion}}' && false")
