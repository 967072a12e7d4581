"""SGLang's JIT kernel caches kept across restarts (issue 24): the docker run line and the Compose file mount one
named volume and point every cache into it, with least privilege kept; smoke tells a first from a cached start."""

from __future__ import annotations

import shlex

import pytest
import yaml

from kimi_cookbook import docker as dk
from kimi_cookbook import jit_cache
from kimi_cookbook.cli import main


def _words(text: str) -> list[str]:
    return shlex.split(text.replace("\\\n", " "))


@pytest.mark.parametrize("hardware", ["mi300x", "h100"])
def test_docker_run_keeps_the_jit_caches_in_a_named_volume(hardware):
    words = _words(dk.docker_run(hardware))
    mounts = [words[i + 1] for i, w in enumerate(words) if w == "-v"]
    assert f"{jit_cache.VOLUME}:{jit_cache.CONTAINER_DIR}" in mounts  # a volume name, not a host path
    env = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "-e")
    assert env == jit_cache.container_env()
    assert set(env) == {"TRITON_CACHE_DIR", "TVM_FFI_CACHE_DIR", "FLASHINFER_WORKSPACE_BASE",
                        "TORCHINDUCTOR_CACHE_DIR", "SGLANG_DG_CACHE_DIR", "SGLANG_CACHE_DIR"}
    assert all(v.startswith(jit_cache.CONTAINER_DIR + "/") for v in env.values())
    for risky in ("--privileged", "--cap-add", "-v /:", "--ipc=host", "--network=host"):
        assert risky not in " ".join(words)
    assert f"{jit_cache.VOLUME}:" not in dk.docker_run(hardware, jit_volume="")  # can be left out


def test_compose_declares_the_volume_and_validates():
    text = dk.compose_yaml("h100")
    dk.validate_compose(text)
    doc = yaml.safe_load(text)
    assert doc["volumes"] == {jit_cache.VOLUME: {}}
    service = doc["services"][dk.COMPOSE_SERVICE]
    assert f"{jit_cache.VOLUME}:{jit_cache.CONTAINER_DIR}" in service["volumes"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    without = yaml.safe_load(dk.compose_yaml("h100", jit_volume=None))
    assert "volumes" not in without and len(without["services"][dk.COMPOSE_SERVICE]["volumes"]) == 1


@pytest.mark.parametrize("bad", ["/host/path", "../up", "a b", "-x"])
def test_a_host_path_is_not_a_volume_name(bad):
    with pytest.raises(ValueError, match="Docker volume name"):
        dk.docker_run("h100", jit_volume=bad)
    with pytest.raises(ValueError, match="Docker volume name"):
        dk.compose_spec("h100", jit_volume=bad)


def test_cli_volume_option(capsys):
    assert main(["docker", "--hardware", "h100", "--jit-volume", "my-jit"]) == 0
    assert "-v my-jit:/jit-cache" in capsys.readouterr().out
    assert main(["docker", "--compose", "--hardware", "h100", "--jit-volume", ""]) == 0
    assert "/jit-cache" not in capsys.readouterr().out


def test_first_and_cached_start_from_the_cache_folders(tmp_path):
    env = {"HOME": str(tmp_path / "home"), **{k: "" for k in jit_cache.container_env()}}
    env = {k: v for k, v in env.items() if v}
    dirs = jit_cache.host_dirs(env)
    assert dirs["Triton"] == tmp_path / "home" / ".triton" / "cache"
    assert dirs["FlashInfer"] == tmp_path / "home" / ".cache" / "flashinfer"
    before = jit_cache.cache_state(env)
    assert jit_cache.start_kind(before) == "first" and all(v["files"] == 0 for v in before.values())
    (dirs["Triton"] / "abc").mkdir(parents=True)
    (dirs["Triton"] / "abc" / "kernel.cubin").write_bytes(b"\0")
    after = jit_cache.cache_state(env)
    assert after["Triton"]["files"] == 1 and jit_cache.start_kind(after) == "cached"
    moved = jit_cache.host_dirs({"HOME": "/h", "FLASHINFER_WORKSPACE_BASE": "/w", "TRITON_CACHE_DIR": "/t"})
    assert moved["FlashInfer"].as_posix() == "/w/.cache/flashinfer" and moved["Triton"].as_posix() == "/t"
