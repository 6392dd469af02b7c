"""``python -m sandbox``: run the three emulators until interrupted (as ``dsar sandbox up``)."""

from __future__ import annotations

import argparse
import sys

from sandbox.credentials import DEFAULT_PORT_BASE
from sandbox.server import serve_forever


def main(argv: list[str] | None = None) -> int:
    """Parse ``--port-base`` and ``--json``, then serve; exit 0 on Ctrl+C, 1 if a port is taken."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Run the Shopify, Klaviyo and Mailchimp emulators on 127.0.0.1.",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=DEFAULT_PORT_BASE,
        help="Shopify on N, Klaviyo on N+1, Mailchimp on N+2 (default %(default)s).",
    )
    parser.add_argument(
        "--json", action="store_true", help="Print one JSON line describing the emulators."
    )
    args = parser.parse_args(argv)
    try:
        serve_forever(port_base=args.port_base, as_json=args.json, echo=_echo)
    except OSError as exc:
        sys.stderr.write(
            f"cannot listen on ports {args.port_base}-{args.port_base + 2}: {exc.strerror}\n"
        )
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _echo(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
