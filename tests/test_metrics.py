"""SGLang's Prometheus metrics: parsed with prometheus_client's parser, sampled over HTTP, plotted.

Two sources of text: real ``/metrics`` captured from SGLang 0.5.16 (``tests/data/sglang_metrics_0.5.16.txt``), and,
for values that change while a sampler polls, text written by prometheus_client itself from the metric names, types
and labels in SGLang 0.5.7's ``sglang/srt/metrics/collector.py`` (``SchedulerMetricsCollector`` gauges,
``TokenizerMetricsCollector`` counters and histograms) and served by prometheus_client's own HTTP exporter.
"""

import time
from pathlib import Path

import pytest

from kimi_cookbook import metrics as km

DATA = Path(__file__).parent / "data"
SCHEDULER_LABELS = ["model_name", "engine_type", "tp_rank", "pp_rank", "moe_ep_rank"]
MODEL = "moonshotai/Kimi-Linear-48B-A3B-Instruct"


def sglang_registry(tp_ranks=(0,)):
    """A registry with SGLang 0.5.7's metric names, types and labels; returns (registry, metric objects)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    reg = CollectorRegistry()
    g = {name: Gauge(f"sglang:{name}", doc, SCHEDULER_LABELS, registry=reg) for name, doc in [
        ("num_running_reqs", "The number of running requests."),
        ("num_used_tokens", "The number of used tokens."),
        ("token_usage", "The token usage."),
        ("gen_throughput", "The generation throughput (token/s)."),
        ("num_queue_reqs", "The number of requests in the waiting queue."),
        ("cache_hit_rate", "The prefix cache hit rate."),
        ("max_total_num_tokens", "Maximum total number of tokens in the KV cache pool."),
    ]}
    c = {name: Counter(f"sglang:{name}", doc, ["model_name"], registry=reg) for name, doc in [
        ("prompt_tokens", "Number of prefill tokens processed."),
        ("generation_tokens", "Number of generation tokens processed."),
        ("num_requests", "Number of requests processed."),
    ]}
    ttft = Histogram("sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                     ["model_name"], buckets=[0.1, 0.5, 1.0], registry=reg)
    ranks = [dict(model_name=MODEL, engine_type="unified", tp_rank=str(r), pp_rank="0", moe_ep_rank="0")
             for r in tp_ranks]
    return reg, g, c, ttft, ranks


def test_parse_sglang_text():
    from prometheus_client import generate_latest

    reg, g, c, ttft, ranks = sglang_registry(tp_ranks=(0, 1))
    for rank, running in zip(ranks, (12, 12)):
        g["num_running_reqs"].labels(**rank).set(running)
        g["num_queue_reqs"].labels(**rank).set(3)
        g["token_usage"].labels(**rank).set(0.25 if rank["tp_rank"] == "0" else 0.35)
        g["gen_throughput"].labels(**rank).set(800.5)
        g["cache_hit_rate"].labels(**rank).set(0.0)
    c["generation_tokens"].labels(model_name=MODEL).inc(4096)
    ttft.labels(model_name=MODEL).observe(0.3)
    text = generate_latest(reg).decode()
    frame = km.parse_metrics(text)
    assert set(frame.columns) == {"family", "type", "sample", "labels", "value"}
    row = frame[(frame["sample"] == "sglang:num_running_reqs")].iloc[0]
    assert row["type"] == "gauge" and row["labels"]["engine_type"] == "unified" and row["value"] == 12
    assert "sglang:generation_tokens_total" in set(frame["sample"])  # counters keep their _total sample
    assert {"sglang:time_to_first_token_seconds_bucket", "sglang:time_to_first_token_seconds_count"} <= set(
        frame["sample"])
    values = km.key_values(frame)
    assert values["num_running_reqs"] == 24 and values["num_queue_reqs"] == 6  # summed over schedulers
    assert values["token_usage"] == pytest.approx(0.30)  # averaged
    assert values["gen_throughput"] == 1601 and values["generation_tokens_total"] == 4096
    assert values["prompt_tokens_total"] is None  # a labelled counter shows no sample before its first use
    assert km.key_values(km.parse_metrics("# nothing here\n"))["num_running_reqs"] is None


def test_prefix_filter_and_bad_text():
    text = "# TYPE other_metric gauge\nother_metric 1\n# TYPE sglang:num_queue_reqs gauge\nsglang:num_queue_reqs 2\n"
    assert list(km.parse_metrics(text)["sample"]) == ["sglang:num_queue_reqs"]
    assert len(km.parse_metrics(text, prefix=None)) == 2
    with pytest.raises(ValueError, match="not Prometheus text"):
        km.parse_metrics("<html>not metrics</html>\n")


REAL_CAPTURE = DATA / "sglang_metrics_0.5.16.txt"  # GET /metrics of SGLang 0.5.16 on an H100, after a run


def test_parse_real_sglang_capture():
    """Real /metrics text (tiny Kimi-Linear checkpoint, SGLang 0.5.16, --enable-metrics): every key metric found."""
    frame = km.parse_metrics(REAL_CAPTURE.read_text())
    values = km.key_values(frame)
    assert all(v is not None for v in values.values()), values
    assert (values["prompt_tokens_total"], values["generation_tokens_total"], values["num_requests_total"]) == (
        3014, 680, 22)
    assert values["num_running_reqs"] == 0 and 0 <= values["token_usage"] <= 1  # captured idle, after the run
    running = frame[frame["sample"] == "sglang:num_running_reqs"].iloc[0]
    assert running["type"] == "gauge" and set(SCHEDULER_LABELS) <= set(running["labels"])
    assert km.parse_metrics(REAL_CAPTURE.read_text(), prefix=None)["family"].nunique() >= frame["family"].nunique()


@pytest.fixture
def exporter():
    """prometheus_client's own HTTP exporter serving the SGLang-named registry on a free port."""
    from prometheus_client import start_http_server

    from kimi_cookbook.server import free_port

    reg, g, c, ttft, ranks = sglang_registry()
    for gauge in g.values():  # SGLang's scheduler reports its gauges from the start
        gauge.labels(**ranks[0]).set(0)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=reg)
    try:
        yield f"http://127.0.0.1:{port}", g, c, ranks[0]
    finally:
        server.shutdown()
        thread.join(5)


@pytest.mark.slow
def test_sampler_polls_during_a_run(exporter):
    url, g, c, rank = exporter
    assert km.metrics_status(url)[0] is True
    with km.MetricsSampler(url, interval_s=0.05) as sampler:
        for step in range(1, 6):
            g["num_running_reqs"].labels(**rank).set(step)
            g["token_usage"].labels(**rank).set(step / 10)
            c["generation_tokens"].labels(model_name=MODEL).inc(100)
            time.sleep(0.06)
    frame = sampler.frame()
    assert len(frame) >= 4 and sampler.errors == 0
    assert frame["num_running_reqs"].max() == 5 and frame["token_usage"].iloc[-1] == pytest.approx(0.5)
    assert frame["generation_tokens_total"].iloc[-1] == 500 and frame["t_s"].is_monotonic_increasing
    assert (frame["generation_tokens_per_s"].dropna() >= 0).all() and frame["generation_tokens_per_s"].max() > 0
    fig = km.plot_samples(frame)
    assert len(fig.axes) == 5  # running, queued, token usage, throughput, cache hit rate


def test_server_without_metrics(embedded_server):
    ok, reason = km.metrics_status(embedded_server.base_url)
    assert ok is False and "answered 404" in reason and "--enable-metrics" in reason
    sampler = km.MetricsSampler(embedded_server.base_url, interval_s=0.05)
    assert sampler.poll() is None and sampler.errors == 1 and "404" in sampler.last_error
    with pytest.raises(ValueError, match="no metric samples to plot"):
        km.plot_samples(sampler.frame())


def test_sampler_bad_input():
    with pytest.raises(ValueError, match="interval_s must be more than 0"):
        km.MetricsSampler("http://127.0.0.1:1", interval_s=0)
    with pytest.raises(ValueError, match="must start with http"):
        km.MetricsSampler("localhost:30000")
