"""SGLang's benchmark client with each finished request written down the moment it finishes.

SGLang's client (``sglang.bench_serving`` / ``sglang.benchmark.serving``) writes its results only when every request
is done, so a run that stops half-way (a server that stops answering, Ctrl-C) would leave nothing of the requests
that did finish. This runs the same client, unchanged and with the same arguments, after wrapping the request
functions of its ``ASYNC_REQUEST_FUNCS`` table (looked up by the client for each request, in 0.5.7 and 0.5.16 alike)
so that each finished request appends one JSON line to ``REQUESTS_FILE``: when it finished, whether it was the
warm-up request, success, latency, time to first token, prompt and output tokens, mean inter-token latency, error.
The client itself is then started exactly as ``python -m MODULE`` would: its ``if __name__ == "__main__":`` block
runs in the imported module. A client without that table runs unwrapped (and says so on stderr).

    python -m kimi_cookbook.bench.recorder REQUESTS_FILE MODULE [CLIENT ARGS ...]
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["main", "request_record"]


def request_record(output: Any, *, warmup: bool) -> dict:
    """One finished request (a ``RequestFuncOutput`` of the client) as a flat JSON-able dict."""
    itl = [float(x) for x in (getattr(output, "itl", None) or [])]
    return {
        "finished": round(time.time(), 4),
        "warmup": warmup,
        "success": bool(getattr(output, "success", False)),
        "latency_s": float(getattr(output, "latency", 0.0) or 0.0),
        "ttft_s": float(getattr(output, "ttft", 0.0) or 0.0),
        "prompt_len": int(getattr(output, "prompt_len", 0) or 0),
        "output_len": int(getattr(output, "output_len", 0) or 0),
        "mean_itl_s": sum(itl) / len(itl) if itl else None,
        "error": str(getattr(output, "error", "") or "")[:500],
    }


def _recording(func, sink: TextIO):
    async def recorded(*args, **kwargs):
        output = await func(*args, **kwargs)
        warmup = kwargs.get("pbar") is None  # the client passes its progress bar to every benchmark request only
        try:
            for one in output if isinstance(output, list) else [output]:  # multi-turn wrappers return a list
                sink.write(json.dumps(request_record(one, warmup=warmup)) + "\n")
            sink.flush()
        except (OSError, TypeError, ValueError) as exc:  # never let the record break the client
            print(f"recorder: could not write a request record: {exc}", file=sys.stderr)
        return output

    recorded.__wrapped__ = func
    return recorded


def _main_block(path: Path) -> ast.Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in reversed(tree.body):
        test = node.test if isinstance(node, ast.If) else None
        if (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
                and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)):
            return ast.Module(body=node.body, type_ignores=[])
    raise SystemExit(f"recorder: {path} has no `if __name__ == '__main__':` block to run")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        raise SystemExit("usage: python -m kimi_cookbook.bench.recorder REQUESTS_FILE MODULE [CLIENT ARGS ...]")
    requests_file, module_name, client_args = argv[0], argv[1], argv[2:]
    module = importlib.import_module(module_name)
    sink = open(requests_file, "a", encoding="utf-8")  # noqa: SIM115 - open for the client's whole run
    funcs = getattr(module, "ASYNC_REQUEST_FUNCS", None)
    if isinstance(funcs, dict) and funcs:
        for name, func in list(funcs.items()):
            funcs[name] = _recording(func, sink)
    else:
        print(f"recorder: {module_name} has no ASYNC_REQUEST_FUNCS table; finished requests are not recorded "
              "one by one", file=sys.stderr)
    path = Path(module.__file__)
    sys.argv = [str(path), *client_args]
    code = compile(_main_block(path), str(path), "exec")
    try:
        exec(code, module.__dict__)  # noqa: S102 - SGLang's own __main__ block, in its own module
    finally:
        sink.close()


if __name__ == "__main__":
    main()
