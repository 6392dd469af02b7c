"""``dsar sandbox up``: the local emulators of the processors' APIs, for every shop served.

Each served register (a shop) gets emulators of its own for the recipients it reaches through
the Shopify, Klaviyo or Mailchimp connector, with credentials and seeded data of its own. The
first shop keeps the single sandbox's ports and credentials, which the engine's settings
default to: the one ``DSAR_REGISTER`` names, else the demo's shop, else the first served.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dsar.cli.output import (
    JsonOpt,
    domain_errors,
    fail,
    out,
)

sandbox_app = typer.Typer(help="Local emulators of the processors' APIs.", no_args_is_help=True)

#: The connectors the sandbox emulates.
EMULATED = ("shopify", "klaviyo", "mailchimp")
#: The shop ``dsar demo`` runs for; it keeps the single sandbox's ports and credentials.
DEMO_CONTROLLER = "lunexxa"
#: The highest port a server may listen on.
LAST_PORT = 65535


def emulated_recipients() -> dict[str, dict[str, str]]:
    """Per served shop, first shop first: each recipient an emulator stands in for → the
    emulator (e.g. ``{"luma-flux": {"shopify": "shopify", "newsletter": "klaviyo"}}``)."""
    from dsar.register import explicit_register, register_for, served_controllers

    served = list(served_controllers())
    explicit = explicit_register()
    first = explicit.controller.key if explicit is not None else DEMO_CONTROLLER
    ordered = sorted(served, key=lambda key: key != first)
    recipients = {
        key: {r.key: r.connector for r in register_for(key).recipients if r.connector in EMULATED}
        for key in ordered
    }
    return {key: named for key, named in recipients.items() if named}


@sandbox_app.command("up")
def sandbox_up(
    port_base: Annotated[
        int,
        typer.Option(
            min=1024,
            max=65533,
            help="First shop: Shopify on N, Klaviyo N+1, Mailchimp N+2; each further shop 3 on.",
        ),
    ] = 8601,
    as_json: JsonOpt = False,
) -> None:
    """Run every served shop's Shopify, Klaviyo and Mailchimp emulators on 127.0.0.1 until
    interrupted."""
    from sandbox.shops import serve_shops_forever, shop_specs

    with domain_errors():
        recipients = emulated_recipients()
    if not recipients:
        fail("no served register has a recipient on Shopify, Klaviyo or Mailchimp", 1)
    specs = shop_specs(recipients, port_base=port_base)
    last = port_base + len(EMULATED) * len(specs) - 1
    if last > LAST_PORT:
        fail(f"--port-base {port_base} leaves no room for {len(specs)} shops' emulators", 2)
    try:
        serve_shops_forever(specs, as_json=as_json, echo=out.print if not as_json else print)
    except OSError as exc:
        fail(f"cannot listen on ports {port_base}-{last}: {exc.strerror}", 1)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
