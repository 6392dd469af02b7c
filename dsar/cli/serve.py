"""``dsar serve``: the intake service and every deployment in one process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dsar.settings import Settings

from dsar.cli.output import (
    domain_errors,
    out,
)


def serve(
    host: Annotated[str, typer.Option(help="Address the intake service listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Intake service port.")] = 8600,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of the monitor's schedule; default: the register's.")
    ] = None,
) -> None:
    """Run the intake service and all deployments in one process (single-machine default)."""
    from dsar.register import served_controllers
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    settings = get_settings()
    with domain_errors():
        prepare_prefect_env(settings.home)
        if settings.secret_blocks:
            import asyncio

            from flows.secrets import load_secret_blocks

            asyncio.run(load_secret_blocks())
        # every shop's own secrets and credentials, and none shared between shops
        settings.check_controllers(served_controllers())
        from dsar.vault import check_key

        check_key(settings)  # the retention vault's key: required in production
        zone = timezone or _default_zone()
        from deployments.serve import serve as run_server

        out.print(f"Intake service on http://{host}:{port} (docs at /docs); deployments served.")
        out.print(f"Staff console on http://{host}:{port}/staff{_demo_login(settings)}")
        try:
            run_server(host=host, port=port, timezone=zone)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


def _demo_login(settings: Settings) -> str:
    """In development, a fresh password for the demo staff login, as words to print."""
    if settings.environment == "production":
        return " (add staff with: dsar staff add EMAIL --controller KEY --password-stdin)"
    from dsar.accounts import demo_login
    from dsar.register import served_controllers
    from dsar.store import session_scope

    with session_scope() as session:
        email, password = demo_login(session, controllers=list(served_controllers()))
    return f" (demo login: {email} / {password})"


def _default_zone() -> str:
    from dsar.register import discover_registers, load_register, registers_dir

    for path in discover_registers(registers_dir()).values():
        return load_register(path).controller.timezone
    return "UTC"
