"""Notebook-side helpers: one way to start or attach to a server, and clean-up that also runs when a cell fails."""

from __future__ import annotations


def stop_server_if_a_cell_fails(server) -> bool:
    """Stop ``server`` as soon as any later cell raises (IPython's ``post_run_cell`` event).

    A notebook spreads its work over cells, so a ``with`` block cannot cover them; this hook is the
    notebook's ``finally``. It unregisters itself after stopping the server. Attached servers are not
    stopped (``Server.stop`` leaves them alone). Returns False outside IPython (scripts use ``with``).
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False

    def _after_cell(result) -> None:
        if result.error_before_exec is None and result.error_in_exec is None:
            return
        print(f"A cell failed: stopping the {server.kind} server at {server.base_url}.")
        server.stop()
        ip.events.unregister("post_run_cell", _after_cell)

    ip.events.register("post_run_cell", _after_cell)
    return True


def start_server(backend: str = "embedded", base_url: str = "", **kw):
    """The notebooks' one way to get a server: launch ``backend`` or attach to ``base_url``
    (:func:`kimi_cookbook.server.connect`, same keywords), print the equivalent terminal command (or what it
    attached to) and where it is ready, and stop it if a later cell fails. End the notebook with
    ``server.stop()`` (an attached server is left running)."""
    from kimi_cookbook.server import connect

    server = connect(backend, base_url=base_url, **kw)
    stop_server_if_a_cell_fails(server)
    print("$", server.command or f"(attached to {server.base_url})")
    log = f"; log: {server.log_path}" if server.log_path else ""
    print(f"{server.kind} server ready at {server.base_url}, model {server.model!r}{log}")
    return server


def start_replicas(replicas: int = 2, backend: str = "embedded", **kw):
    """Several servers behind SGLang's router, the notebooks' way: :func:`kimi_cookbook.router.launch_replicas`
    (same keywords), each replica's terminal command and the router's printed, everything stopped if a later cell
    fails. End the notebook with ``fleet.stop()``."""
    from kimi_cookbook.router import launch_replicas

    fleet = launch_replicas(replicas, backend, **kw)
    stop_server_if_a_cell_fails(fleet)
    for i, worker in enumerate(fleet.workers):
        print(f"replica {i}: $ {worker.command}")
    print(f"router:    $ {fleet.command}")
    print(f"{len(fleet.workers)} {fleet.kind} servers behind SGLang's router at {fleet.base_url}, "
          f"model {fleet.model!r}; router log: {fleet.log_path}")
    return fleet
