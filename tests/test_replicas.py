"""The layout planner and the commands it writes: per-replica launches, the router, multi-node flags, --dp-size, the
Compose file of a node (schema-valid), the CLI. The router's argv is parsed by the pinned sglang-router's own parser;
SGLang's flags are looked up in the installed SGLang's own argument definitions."""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

import pytest
import yaml

from kimi_cookbook import capacity, replicas
from kimi_cookbook import docker as dk
from kimi_cookbook.cli import main
from kimi_cookbook.router import ROUTER_REQUIREMENT, router_argv


def _sglang_server_args_source() -> str:
    spec = importlib.util.find_spec("sglang")
    assert spec is not None, "SGLang's client (installed --no-deps) is part of the test set-up"
    return (Path(spec.submodule_search_locations[0]) / "srt" / "server_args.py").read_text()


def _router_args(argv: list[str]):
    """The router's argv as sglang-router 0.3.2 itself parses it (its launch_router's parser)."""
    from sglang_router.launch_router import parse_router_args

    assert argv[1:3] == ["-m", "sglang_router.launch_router"]
    return parse_router_args(argv[3:])


# --- the layouts -----------------------------------------------------------------------------------------
def test_a_node_of_mi300x_every_tp_with_the_planners_pools():
    found = replicas.layouts("mi300x", gpus_per_node=8, context=131072)
    assert [(lay.tp, lay.replicas, lay.gpus_idle) for lay in found] == [(1, 8, 0), (2, 4, 0), (4, 2, 0), (8, 1, 0)]
    for lay in found:  # one home per number: each server's figures are the capacity planner's
        p = capacity.plan("mi300x", lay.tp, 131072, sglang_version="0.5.7")
        assert lay.max_total_num_tokens == p.sglang_max_total_num_tokens
        assert lay.max_running_requests == p.sglang_max_running_requests
        assert lay.requests_per_server == min(p.sglang_max_running_requests, p.sglang_max_total_num_tokens // 131072)
        assert lay.aggregate_requests == lay.replicas * lay.requests_per_server
        assert lay.tpot_floor_b1_ms == p.tpot_floor_ms
        step = capacity.decode_step("mi300x", lay.tp, lay.requests_per_server, 131072)
        assert lay.aggregate_decode_floor_tok_s == pytest.approx(
            lay.replicas * lay.requests_per_server / step["tpot_floor_ms"] * 1e3)
    # the page's tp 4 runs one server on half the node; its two replicas double what the node runs at once
    tp4 = next(lay for lay in found if lay.tp == 4)
    assert tp4.aggregate_requests == 2 * tp4.requests_per_server


def test_what_does_not_fit_is_left_out_and_says_why():
    rows = replicas.layout_table("h100", gpus_per_node=8)
    assert "does not fit" in rows[0]["error"] and rows[0]["tp"] == 1  # 91.5 GiB of weights on one 80 GB GPU
    assert [lay.tp for lay in replicas.layouts("h100")] == [2, 4, 8]
    assert [r["tp"] for r in replicas.layout_table("h100", gpus_per_node=1, nodes=2)] == [1, 2, 4, 8]
    uneven = replicas.layout_table("h100", gpus_per_node=3, nodes=2)
    assert "split evenly" in next(r for r in uneven if r["tp"] == 4)["error"]


def test_select_layout_by_objective():
    found = replicas.layouts("mi300x")
    assert replicas.select_layout(found, "latency").tp == 8  # the lowest batch-1 floor
    assert replicas.select_layout(found, "concurrency") == max(found, key=lambda lay: lay.aggregate_requests)
    assert replicas.select_layout(found, "throughput") == max(found, key=lambda lay: lay.aggregate_decode_floor_tok_s)
    with pytest.raises(ValueError, match="objective must be one of"):
        replicas.select_layout(found, "fastest")
    with pytest.raises(ValueError, match="no layout fits"):
        replicas.select_layout([], "throughput")


@pytest.mark.parametrize("kwargs, message", [
    ({"gpus_per_node": 0}, "gpus_per_node must be"),
    ({"nodes": True}, "nodes must be"),
    ({"tps": [3]}, "does not divide"),
    ({"tps": [16]}, "tp must be"),
    ({"context": 0}, "context must be"),
    ({"sglang_version": "0.4"}, "sglang_version must be"),
])
def test_layouts_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        replicas.layouts("mi300x", **kwargs)


# --- the commands --------------------------------------------------------------------------------------
def test_one_node_replicas_pinned_to_disjoint_gpus_behind_the_router():
    lay = next(lay for lay in replicas.layouts("h100") if lay.tp == 2)
    dep = replicas.deployment(lay, tool_call_parser="kimi_k2")
    assert [w.gpus for w in dep.workers] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert [w.spec.env for w in dep.workers] == [{"CUDA_VISIBLE_DEVICES": f"{2 * i},{2 * i + 1}"} for i in range(4)]
    assert [w.port for w in dep.workers] == [30001, 30002, 30003, 30004]
    for w in dep.workers:
        argv = w.argv()
        assert argv[argv.index("--tp") + 1] == "2" and argv[argv.index("--host") + 1] == "127.0.0.1"
        assert argv[argv.index("--tool-call-parser") + 1] == "kimi_k2"
        assert shlex.split(w.shell().replace("\\\n", " "))[0] == f"CUDA_VISIBLE_DEVICES={','.join(map(str, w.gpus))}"
    args = _router_args(dep.router)
    assert args.worker_urls == [f"http://127.0.0.1:{p}" for p in (30001, 30002, 30003, 30004)]
    assert (args.policy, args.host, args.port) == ("cache_aware", "127.0.0.1", 30000)
    assert dep.router_url == "http://127.0.0.1:30000"
    text = replicas.format_deployment(dep)
    assert text.count("python3 -m sglang.launch_server") == 5  # 4 replicas + the --dp-size alternative
    assert "python3 -m sglang_router.launch_router" in text


def test_amd_pins_with_hip_and_keeps_the_rocm_flag():
    lay = next(lay for lay in replicas.layouts("mi300x") if lay.tp == 4)
    dep = replicas.deployment(lay)
    assert [w.spec.env for w in dep.workers] == [
        {"HIP_VISIBLE_DEVICES": "0,1,2,3", "SGLANG_ROCM_FUSED_DECODE_MLA": "0"},
        {"HIP_VISIBLE_DEVICES": "4,5,6,7", "SGLANG_ROCM_FUSED_DECODE_MLA": "0"},
    ]


def test_base_gpu_id_pinning_and_the_dp_size_alternative():
    lay = next(lay for lay in replicas.layouts("h200") if lay.tp == 2)
    dep = replicas.deployment(lay, pinning="base-gpu-id")
    assert [w.spec.option("--base-gpu-id") for w in dep.workers] == ["0", "2", "4", "6"]
    assert all("CUDA_VISIBLE_DEVICES" not in w.spec.env for w in dep.workers)
    dp = dep.dp_size_command()
    assert (dp.option("--tp"), dp.option("--dp-size"), dp.option("--port")) == ("2", "4", "30000")
    assert dp.env == {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}
    source = _sglang_server_args_source()  # the flags exist in the pinned SGLang
    for flag in ("--base-gpu-id", "--dp-size", "--nnodes", "--node-rank", "--dist-init-addr"):
        assert f'"{flag}"' in source, flag


def test_a_server_spanning_nodes_gets_the_multi_node_flags():
    (lay,) = replicas.layouts("h100", gpus_per_node=1, nodes=4, tps=[2])
    assert (lay.multi_node, lay.nodes_per_replica, lay.replicas, lay.replicas_per_node) == (True, 2, 2, 0)
    dep = replicas.deployment(lay, node_hosts=["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
    rows = [(w.replica, w.node, w.node_rank, w.spec.option("--nnodes"), w.spec.option("--node-rank"),
             w.spec.option("--dist-init-addr"), w.url) for w in dep.workers]
    assert rows == [
        (0, 0, 0, "2", "0", "10.0.0.1:50000", "http://10.0.0.1:30001"),
        (0, 1, 1, "2", "1", "10.0.0.1:50000", None),
        (1, 2, 0, "2", "0", "10.0.0.3:50001", "http://10.0.0.3:30001"),
        (1, 3, 1, "2", "1", "10.0.0.3:50001", None),
    ]
    assert all(w.spec.option("--host") == "0.0.0.0" and w.gpus == (0,) for w in dep.workers)
    assert _router_args(dep.router).worker_urls == ["http://10.0.0.1:30001", "http://10.0.0.3:30001"]
    with pytest.raises(ValueError, match="cannot span nodes"):
        dep.dp_size_command()


def test_replicas_on_several_nodes_share_one_router():
    (lay,) = replicas.layouts("b200", gpus_per_node=8, nodes=2, tps=[4])
    dep = replicas.deployment(lay)
    assert [(w.node_host, w.port) for w in dep.workers] == [("node0", 30001), ("node0", 30002), ("node1", 30001),
                                                            ("node1", 30002)]
    assert len(_router_args(dep.router).worker_urls) == 4 and "--nnodes" not in dep.script()


@pytest.mark.parametrize("kwargs, message", [
    ({"pinning": "numa"}, "pinning must be"),
    ({"policy": "fastest"}, "policy must be"),
    ({"node_hosts": ["a", "b"]}, "names 2 node"),
    ({"node_hosts": ["http://a/"]}, "host name or address"),
    ({"router_port": 30002}, "falls among the replicas' ports"),
    ({"worker_port": 65535}, "last replica's port"),
    ({"tp": 2}, "come from the layout"),
])
def test_deployment_bad_input(kwargs, message):
    lay = next(lay for lay in replicas.layouts("mi300x") if lay.tp == 4)
    with pytest.raises(ValueError, match=message):
        replicas.deployment(lay, **kwargs)


def test_router_argv_is_what_the_router_parses():
    argv = router_argv(["http://a:1", "http://b:2"], host="0.0.0.0", port=8000, policy="round_robin",
                       extra_args=["--health-check-interval-secs", "5"])
    args = _router_args(argv)
    assert (args.worker_urls, args.policy, args.port, args.health_check_interval_secs) == (
        ["http://a:1", "http://b:2"], "round_robin", 8000, 5)
    for urls, kw, message in (([], {}, "at least one"), (["a:1"], {}, "http://"),
                              (["http://a:1"], {"policy": "x"}, "policy")):
        with pytest.raises(ValueError, match=message):
            router_argv(urls, **kw)


def test_the_router_requirement_is_the_pinned_one():
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    lock = (Path(__file__).resolve().parents[1] / "constraints.txt").read_text()
    assert f'"{ROUTER_REQUIREMENT}"' in pyproject and ROUTER_REQUIREMENT in lock


# --- Compose ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hardware, tp, replicas_n", [("h100", 2, 4), ("mi300x", 1, 8), ("mi355x", 4, 2)])
def test_compose_replicas_validate_pin_gpus_and_wait_for_healthy_servers(hardware, tp, replicas_n):
    text = dk.compose_yaml(hardware, tp=tp, replicas=replicas_n, tool_call_parser="kimi_k2")
    dk.validate_compose(text)  # the packaged Compose Specification schema
    services = yaml.safe_load(text)["services"]
    servers = [f"sglang-{i}" for i in range(replicas_n)]
    assert list(services) == [*servers, "router"]
    pinned = []
    for name in servers:
        s = services[name]
        assert "ports" not in s and "/health" in " ".join(s["healthcheck"]["test"])  # only the router is published
        assert s["security_opt"] == ["no-new-privileges:true"]
        for risky in ("privileged", "network_mode", "ipc", "cap_add", "pid"):
            assert risky not in s
        if hardware.startswith("mi"):
            pinned.append([e for e in s["environment"] if e.startswith("HIP_VISIBLE_DEVICES=")][0].split("=")[1])
        else:
            (device,) = s["deploy"]["resources"]["reservations"]["devices"]
            assert "count" not in device
            pinned.append(",".join(device["device_ids"]))
        assert "--tool-call-parser kimi_k2" in s["command"][-1]
    assert pinned == [",".join(str(g) for g in range(i * tp, (i + 1) * tp)) for i in range(replicas_n)]
    router = services["router"]
    assert router["depends_on"] == {name: {"condition": "service_healthy"} for name in servers}
    assert router["ports"] == ["127.0.0.1:30000:30000"] and router["cap_drop"] == ["ALL"]
    assert "volumes" not in router and "devices" not in router and "deploy" not in router
    assert "/readiness" in " ".join(router["healthcheck"]["test"])
    launch = router["command"][-1].split(" && exec ", 1)[1]
    args = _router_args(shlex.split(launch))
    assert args.worker_urls == [f"http://{name}:30000" for name in servers] and args.host == "0.0.0.0"
    assert ROUTER_REQUIREMENT in router["command"][-1]  # installed where the image lacks it


def test_compose_one_replica_is_todays_file_and_too_many_gpus_is_refused():
    assert dk.compose_spec("h100", tp=4, replicas=1) == dk.compose_spec("h100", tp=4)
    with pytest.raises(ValueError, match="need 12 GPUs"):
        dk.compose_spec("h100", tp=4, replicas=3)
    with pytest.raises(ValueError, match="replicas must be"):
        dk.compose_spec("h100", replicas=0)


def test_compose_replicas_cli(tmp_path, capsys):
    out = tmp_path / "compose.yaml"
    assert main(["docker", "--compose", "--hardware", "h200", "--tp", "2", "--replicas", "4", "-o", str(out)]) == 0
    dk.validate_compose(out.read_text())
    assert "--replicas 4" in out.read_text().splitlines()[0]
    assert main(["docker", "--compose", "--hardware", "h200", "--tp", "4", "--replicas", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "need 12 GPUs" in err


# --- the CLI ---------------------------------------------------------------------------------------------
def test_replicas_cli_table_and_commands(capsys):
    assert main(["replicas", "--hardware", "h100"]) == 0
    out = capsys.readouterr().out
    assert "tp 2 x 4 per node" in out and "does not fit" in out  # tp 1: the weights do not fit one H100
    assert out.count("python3 -m sglang.launch_server") >= 2 and "sglang_router.launch_router" in out
    assert main(["replicas", "--hardware", "h100", "--gpus-per-node", "2", "--nodes", "2", "--tp", "4",
                 "--node-hosts", "a,b", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["chosen"]["tp"] == 4 and [w["node_rank"] for w in data["workers"]] == [0, 1]
    assert "--dist-init-addr a:50000" in data["workers"][1]["command"]


def test_replicas_cli_refuses_a_tp_that_does_not_fit(capsys):
    assert main(["replicas", "--hardware", "h100", "--tp", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tp 1 does not fit" in err
