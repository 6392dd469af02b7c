"""``dsar sandbox up``: the local emulators of the processors' APIs."""

from __future__ import annotations

from typing import Annotated

import typer

from dsar.cli.output import (
    JsonOpt,
    fail,
    out,
)

sandbox_app = typer.Typer(help="Local emulators of the processors' APIs.", no_args_is_help=True)


@sandbox_app.command("up")
def sandbox_up(
    port_base: Annotated[
        int, typer.Option(min=1024, max=65533, help="Shopify on N, Klaviyo N+1, Mailchimp N+2.")
    ] = 8601,
    as_json: JsonOpt = False,
) -> None:
    """Run the Shopify, Klaviyo and Mailchimp emulators on 127.0.0.1 until interrupted."""
    from sandbox.server import serve_forever

    try:
        serve_forever(
            port_base=port_base, as_json=as_json, echo=out.print if not as_json else print
        )
    except OSError as exc:
        fail(f"cannot listen on ports {port_base}-{port_base + 2}: {exc.strerror}", 1)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
