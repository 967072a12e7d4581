"""SGLang's Prometheus metrics: read ``GET /metrics``, sample it during a benchmark, plot it.

SGLang serves Prometheus text at ``/metrics`` when launched with ``--enable-metrics``
(``build_launch_spec(..., enable_metrics=True)``). The text is parsed with ``prometheus_client``'s own parser
(:func:`prometheus_client.parser.text_string_to_metric_families`), not by hand.

Metric names, from SGLang 0.5.7's ``sglang/srt/metrics/collector.py``: the scheduler's gauges
(``SchedulerMetricsCollector``, labels ``model_name``, ``engine_type``, ``tp_rank``, ``pp_rank``,
``moe_ep_rank``) ``sglang:num_running_reqs``, ``sglang:num_queue_reqs``, ``sglang:token_usage`` (fraction of the
KV-cache token pool in use), ``sglang:gen_throughput`` (generated tokens/s), ``sglang:cache_hit_rate`` (prefix
cache), and the tokenizer's counters (``TokenizerMetricsCollector``) ``sglang:prompt_tokens_total``,
``sglang:generation_tokens_total``, ``sglang:num_requests_total``. By default only TP rank 0's scheduler reports
(``--enable-metrics-for-all-schedulers`` adds the others). The same names and labels are in real ``/metrics`` text
captured from SGLang 0.5.16 (``tests/data/sglang_metrics_0.5.16.txt``), where the counters also carry ``engine_type``.

Servers without ``/metrics`` (the embedded llama.cpp server answers 404) are reported by
:func:`metrics_status`, so a notebook can say so and move on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

PREFIX = "sglang:"
# The columns of a sample: short name -> (SGLang metric sample name, how label sets are combined).
# Counts and rates add up across schedulers (data-parallel ranks); fractions are averaged.
KEY_METRICS: dict[str, tuple[str, str]] = {
    "num_running_reqs": ("sglang:num_running_reqs", "sum"),
    "num_queue_reqs": ("sglang:num_queue_reqs", "sum"),
    "token_usage": ("sglang:token_usage", "mean"),
    "gen_throughput": ("sglang:gen_throughput", "sum"),
    "cache_hit_rate": ("sglang:cache_hit_rate", "mean"),
    "prompt_tokens_total": ("sglang:prompt_tokens_total", "sum"),
    "generation_tokens_total": ("sglang:generation_tokens_total", "sum"),
    "num_requests_total": ("sglang:num_requests_total", "sum"),
}
PLOTTED = {
    "num_running_reqs": "running requests",
    "num_queue_reqs": "queued requests",
    "token_usage": "KV-cache token usage (fraction)",
    "gen_throughput": "generation throughput (tokens/s)",
    "cache_hit_rate": "prefix-cache hit rate",
}


def parse_metrics(text: str, prefix: str | None = PREFIX):
    """Prometheus exposition text -> a long DataFrame: ``family``, ``type``, ``sample``, ``labels``, ``value``.

    One row per sample (a histogram gives its ``_bucket``/``_sum``/``_count`` rows); ``labels`` is a dict.
    ``prefix`` keeps only metric families whose name starts with it (``None``: all). Text that is not
    Prometheus exposition raises ``ValueError``.
    """
    import pandas as pd
    from prometheus_client.parser import text_string_to_metric_families

    rows = []
    try:
        for family in text_string_to_metric_families(text):
            if prefix and not family.name.startswith(prefix):
                continue
            for s in family.samples:
                rows.append({"family": family.name, "type": family.type, "sample": s.name, "labels": dict(s.labels),
                             "value": float(s.value)})
    except Exception as exc:  # noqa: BLE001 - the parser raises more than ValueError on odd lines (IndexError)
        raise ValueError(f"not Prometheus text ({type(exc).__name__}: {exc}); is this a /metrics endpoint?") from None
    return pd.DataFrame(rows, columns=["family", "type", "sample", "labels", "value"])


def key_values(frame) -> dict[str, float | None]:
    """The :data:`KEY_METRICS` from a :func:`parse_metrics` frame, label sets combined; ``None`` when absent."""
    out: dict[str, float | None] = {}
    for short, (sample, how) in KEY_METRICS.items():
        values = frame.loc[frame["sample"] == sample, "value"] if len(frame) else []
        if len(values) == 0:
            out[short] = None
        else:
            out[short] = float(values.sum() if how == "sum" else values.mean())
    return out


def metrics_url(base_url: str) -> str:
    from kimi_cookbook.net import normalize_base_url

    return normalize_base_url(base_url) + "/metrics"


def fetch_metrics(base_url: str, timeout: float = 5.0) -> str:
    """``GET {base_url}/metrics`` as text; ``RuntimeError`` saying what to do when it does not answer 200."""
    from kimi_cookbook.net import http_get

    url = metrics_url(base_url)
    status, body = http_get(url, timeout=timeout)
    if status != 200:
        hint = ("this server has no /metrics (SGLang serves it when launched with --enable-metrics)" if status == 404
                else "is the server running?")
        raise RuntimeError(f"GET {url} answered {status or 'nothing'}: {hint}")
    return body.decode("utf-8", "replace")


def metrics_status(base_url: str, timeout: float = 5.0) -> tuple[bool, str]:
    """``(True, "N sglang:* metric families")`` when ``/metrics`` serves SGLang's metrics, else
    ``(False, reason)``. Never raises, whatever the server answers (or a base URL that is not one)."""
    try:
        frame = parse_metrics(fetch_metrics(base_url, timeout))
    except Exception as exc:  # noqa: BLE001 - documented as never raising
        return False, str(exc)
    if frame.empty:
        return False, f"{metrics_url(base_url)} has no {PREFIX}* metrics (not an SGLang server?)"
    return True, f"{frame['family'].nunique()} {PREFIX}* metric families at {metrics_url(base_url)}"


@dataclass
class MetricsSampler:
    """Poll ``/metrics`` every ``interval_s`` seconds in a background thread while a benchmark runs.

    Use as a context manager (or ``start()``/``stop()``); ``frame()`` returns one row per poll: ``t_s``
    (seconds since start) and the :data:`KEY_METRICS` columns, plus ``generation_tokens_per_s`` computed from
    the counter between polls. A poll that fails is counted in ``errors`` (with the last message), not raised.
    """

    base_url: str
    interval_s: float = 1.0
    timeout_s: float = 5.0
    rows: list[dict] = field(default_factory=list)
    errors: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        if not self.interval_s > 0:
            raise ValueError(f"interval_s must be more than 0, got {self.interval_s!r}")
        metrics_url(self.base_url)  # checks the URL now, not in the thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def poll(self) -> dict | None:
        """One sample now (also appended to ``rows``); ``None`` when the poll failed."""
        t = time.monotonic() - self._t0
        try:
            values = key_values(parse_metrics(fetch_metrics(self.base_url, self.timeout_s)))
        except Exception as exc:  # noqa: BLE001 - a poll that fails is counted, never kills the sampler's thread
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, (RuntimeError, ValueError)) \
                else str(exc)
            return None
        row = {"t_s": round(t, 3), **values}
        self.rows.append(row)
        return row

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.poll()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def start(self) -> MetricsSampler:
        if self._thread is not None:
            raise RuntimeError("this sampler was already started")
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="metrics-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop polling (one last poll first) and return :meth:`frame`."""
        if self._thread is not None and self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout=self.timeout_s + self.interval_s + 1)
            self.poll()
        return self.frame()

    def __enter__(self) -> MetricsSampler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def frame(self):
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=["t_s", *KEY_METRICS]).astype(float)  # a metric never seen: NaN
        dt = df["t_s"].diff()
        df["generation_tokens_per_s"] = (df["generation_tokens_total"].diff() / dt).where(dt > 0)
        return df


def plot_samples(frame, *, title: str = "Server metrics during the benchmark (sampled from /metrics)"):
    """One panel per :data:`PLOTTED` metric that has values, against time; returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    present = [c for c in PLOTTED if c in frame and frame[c].notna().any()]
    if frame.empty or not present:
        raise ValueError("no metric samples to plot (did the sampler reach /metrics? see its last_error)")
    fig, axes = plt.subplots(len(present), 1, figsize=(7, 1.9 * len(present)), sharex=True, squeeze=False)
    for ax, col in zip(axes[:, 0], present):
        ax.plot(frame["t_s"], frame[col], marker=".", linewidth=1)
        ax.set_ylabel(PLOTTED[col], fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("seconds since the sampler started")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
