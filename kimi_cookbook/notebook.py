"""Notebook-side helpers: clean-up that also runs when a cell fails."""

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
