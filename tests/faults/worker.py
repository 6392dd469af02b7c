"""The engine process the crash trials kill, started from a pre-loaded parent (a "zygote").

``python -m tests.faults.worker`` imports the engine once, then waits on stdin. Each line
``run`` forks a fresh child that carries out every open request it finds (one run each, as a
restarted engine process would) and exits; the parent answers ``pid <pid>`` at once and
``exit <code>`` when the child is gone (``-9`` after a SIGKILL). Forking from a parent that
has imported everything but opened nothing (no database, no loop, no thread) gives a fresh
process in milliseconds instead of the second a new interpreter needs, which keeps ten kills
fast. The child inherits the environment: the engine's ``DSAR_*`` settings of the test.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback

from tests.faults import harness


def _child() -> int:
    os.dup2(2, 1)  # the engine's own output must not mix with the parent's answers
    try:
        asyncio.run(harness.run_batch(harness.open_request_ids()))
    except BaseException:  # noqa: BLE001 - reported on stderr as the child's exit status
        traceback.print_exc()
        return 1
    return 0


def main() -> int:
    """Serve ``run`` commands until stdin closes."""
    harness.install_fast_connectors()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os._exit(_child())
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
