"""Several shops side by side: per shop a sandbox of its own, as one installation serves them.

Each shop (a controller, one processing register) works with its own Shopify store, Klaviyo
account and Mailchimp account: its own emulators on its own ports, its own credentials (one
shop's token opens nothing at another's) and its own seeded data. A :class:`ShopSpec` names the
emulators a shop needs, by the recipients that use them; the caller (``dsar sandbox up`` reads
the registers) says which, since the sandbox knows nothing of registers.

:func:`shop_specs` lays shops out as ``dsar sandbox up`` runs them: the first keeps the sandbox
of a single shop exactly (seed, :data:`~sandbox.credentials.DEFAULT_CREDENTIALS`, Shopify on N,
Klaviyo N+1, Mailchimp N+2), each further one gets the next three ports, a seed and credentials
of its own, and the second shop's personas (:data:`~sandbox.personas.SECOND_SHOP_PERSONAS`:
Maria shops at both under one address). :func:`running_shops` serves them all from one
background thread; :func:`describe_shops` says where, and which variables point the engine at
them: ``DSAR_CONTROLLERS__<KEY>__<SETTING>``, the engine's naming, repeated here because the
sandbox stands alone (a test keeps the two in step).
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sandbox.credentials import DEFAULT_CREDENTIALS, DEFAULT_PORT_BASE, ShopCredentials
from sandbox.server import (
    EMULATORS,
    HOST,
    Sandbox,
    _bind,
    _quiet_dropped_connections,
    _Servers,
    _wait_for_stop,
)

#: The first shop's seed, the one a single sandbox is seeded with.
DEFAULT_SEED = 1234
#: How each emulator is named in listings.
TITLES = {"shopify": "Shopify", "klaviyo": "Klaviyo", "mailchimp": "Mailchimp"}


def controller_variable(controller: str, setting: str) -> str:
    """The engine's variable of one controller's setting (``DSAR_CONTROLLERS__LUMA_FLUX__...``)."""
    return f"DSAR_CONTROLLERS__{controller.upper().replace('-', '_')}__{setting.upper()}"


@dataclass(frozen=True)
class ShopSpec:
    """One shop's sandbox: which emulators, on which ports, seeded how, accepting what.

    ``recipients`` maps each recipient that uses an emulator (the register's key, e.g.
    ``newsletter``) to the emulator (``shopify``, ``klaviyo`` or ``mailchimp``); only the
    emulators named there are served. ``port_base`` N puts Shopify on N, Klaviyo on N+1 and
    Mailchimp on N+2 (``None``: free ports). ``second_shop`` seeds another shop's people.
    """

    recipients: Mapping[str, str]
    port_base: int | None = None
    seed: int = DEFAULT_SEED
    credentials: ShopCredentials = DEFAULT_CREDENTIALS
    second_shop: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.recipients.values()) - set(EMULATORS)
        if unknown:
            raise ValueError(f"no such emulator: {', '.join(sorted(unknown))}")

    @classmethod
    def emulating(cls, *processors: str, **options: Any) -> ShopSpec:
        """A shop whose recipients are named after the emulators they use."""
        return cls(recipients={name: name for name in processors}, **options)

    @property
    def processors(self) -> tuple[str, ...]:
        """The emulators served for this shop, in port order."""
        return tuple(name for name in EMULATORS if name in self.recipients.values())

    def port(self, processor: str) -> int:
        """Where ``processor`` is to listen (0: a free port)."""
        return 0 if self.port_base is None else self.port_base + EMULATORS.index(processor)


def shop_specs(
    recipients: Mapping[str, Mapping[str, str]], *, port_base: int | None = DEFAULT_PORT_BASE
) -> dict[str, ShopSpec]:
    """One :class:`ShopSpec` per shop (``recipients``: shop key → recipient → emulator), in the
    given order: the first as a single sandbox runs, each further one three ports on, with a
    seed, credentials and people of its own (``port_base`` ``None``: free ports for all)."""
    specs: dict[str, ShopSpec] = {}
    for index, (key, named) in enumerate(recipients.items()):
        first = index == 0
        specs[key] = ShopSpec(
            recipients=dict(named),
            port_base=None if port_base is None else port_base + len(EMULATORS) * index,
            seed=DEFAULT_SEED + index,
            credentials=DEFAULT_CREDENTIALS if first else ShopCredentials.for_shop(key),
            second_shop=not first,
        )
    return specs


@dataclass(frozen=True)
class RunningShop:
    """One shop's served emulators: its sandbox, and where each emulator answers."""

    key: str
    spec: ShopSpec
    sandbox: Sandbox
    urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def credentials(self) -> ShopCredentials:
        """What this shop's emulators accept."""
        return self.sandbox.credentials

    def url(self, processor: str) -> str:
        """Where ``processor``'s emulator answers; ``KeyError`` when the shop has none."""
        if processor not in self.urls:
            raise KeyError(f"shop {self.key!r} has no {processor} emulator")
        return self.urls[processor]

    def access(self, processor: str) -> dict[str, str]:
        """Where one emulator answers and what it accepts (``url`` and ``token`` or
        ``api_key``, Mailchimp's newsletter ``list_id``)."""
        c, url = self.credentials, self.url(processor)
        if processor == "shopify":
            return {"url": url, "token": c.shopify_token}
        if processor == "klaviyo":
            return {"url": url, "api_key": c.klaviyo_api_key}
        return {"url": url, "api_key": c.mailchimp_api_key, "list_id": c.mailchimp_list_id}

    def recipients(self) -> dict[str, dict[str, str]]:
        """:meth:`access` of each recipient's emulator, by recipient key."""
        return {key: self.access(name) for key, name in self.spec.recipients.items()}

    def settings(self) -> dict[str, str]:
        """The shop's settings (``shopify_url``...) that point the engine at its emulators."""
        c = self.credentials
        by_processor = {
            "shopify": {
                "shopify_token": c.shopify_token,
                "shopify_app_secret": c.shopify_app_secret,
            },
            "klaviyo": {"klaviyo_api_key": c.klaviyo_api_key},
            "mailchimp": {"mailchimp_api_key": c.mailchimp_api_key},
        }
        values: dict[str, str] = {}
        for name in self.spec.processors:
            values[f"{name}_url"] = self.url(name)
            values.update(by_processor[name])
        return values

    def env(self) -> dict[str, str]:
        """:meth:`settings` as the shop's own variables, ``DSAR_CONTROLLERS__<KEY>__<SETTING>``."""
        return {
            controller_variable(self.key, setting): value
            for setting, value in self.settings().items()
        }


@contextmanager
def running_shops(
    shops: Mapping[str, ShopSpec], *, startup_timeout: float = 10.0, **create_kwargs: Any
) -> Iterator[dict[str, RunningShop]]:
    """Serve each shop's emulators on 127.0.0.1 for the duration of the ``with`` block.

    Every shop gets a sandbox of its own (:meth:`Sandbox.create` with its spec's seed,
    credentials and people, and ``create_kwargs``); all emulators run on one event loop in one
    background thread. ``OSError``, and nothing left bound, if a port is taken. On exit the
    servers stop and the ports are free.
    """
    boxes = {
        key: Sandbox.create(
            seed=spec.seed,
            credentials=spec.credentials,
            second_shop=spec.second_shop,
            **create_kwargs,
        )
        for key, spec in shops.items()
    }
    plan = [(key, name) for key, spec in shops.items() for name in spec.processors]
    sockets: list[socket.socket] = []
    try:
        for key, name in plan:
            sockets.append(_bind(shops[key].port(name)))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    urls: dict[str, dict[str, str]] = {key: {} for key in shops}
    for (key, name), sock in zip(plan, sockets, strict=True):
        urls[key][name] = f"http://{HOST}:{sock.getsockname()[1]}"
    apps = [getattr(boxes[key], f"{name}_app") for key, name in plan]
    _quiet_dropped_connections()
    servers = _Servers(apps, sockets)
    servers.start(startup_timeout)
    try:
        yield {key: RunningShop(key, spec, boxes[key], urls[key]) for key, spec in shops.items()}
    finally:
        servers.stop()


def describe_shops(shops: Mapping[str, RunningShop]) -> dict[str, Any]:
    """What ``dsar sandbox up --json`` prints.

    The first shop's emulators as a single sandbox describes them (``shopify``, ``klaviyo``,
    ``mailchimp``); ``env``, the variables that point the engine at every shop's emulators;
    ``controllers``, each shop's emulators by the recipients that use them. With one shop,
    ``env`` also holds the unprefixed ``DSAR_SHOPIFY_URL``...; with several it must not (the
    engine refuses them beside several shops), only ``DSAR_MAILCHIMP_LIST_ID``.
    """
    first = next(iter(shops.values()), None)
    described: dict[str, Any] = {}
    env: dict[str, str] = {}
    if first is not None:
        described = {name: first.access(name) for name in first.spec.processors}
        if len(shops) == 1:
            env.update({f"DSAR_{s.upper()}": v for s, v in first.settings().items()})
        if "mailchimp" in first.urls:
            env["DSAR_MAILCHIMP_LIST_ID"] = first.credentials.mailchimp_list_id
    for shop in shops.values():
        env.update(shop.env())
    controllers = {key: shop.recipients() for key, shop in shops.items()}
    return {**described, "env": env, "controllers": controllers}


def listing_shops(shops: Mapping[str, RunningShop]) -> list[str]:
    """The human-readable version of :func:`describe_shops`."""
    lines = ["Sandbox emulators on 127.0.0.1 (Ctrl+C stops them):"]
    for key, shop in shops.items():
        lines.append(f"  {key}")
        for recipient, name in shop.spec.recipients.items():
            access = shop.access(name)
            secret = access.get("token") or access.get("api_key")
            kind = "token" if "token" in access else "api key"
            extra = f", list {access['list_id']}" if "list_id" in access else ""
            lines.append(
                f"    {recipient:<12} {TITLES[name]:<10} {access['url']}   {kind} {secret}{extra}"
            )
    env = describe_shops(shops)["env"]
    return [*lines, "", "Point the engine at them:", *(f"export {k}={v}" for k, v in env.items())]


def serve_shops_forever(
    shops: Mapping[str, ShopSpec],
    *,
    as_json: bool = False,
    echo: Callable[[str], None] = print,
    **create_kwargs: Any,
) -> None:
    """Run every shop's emulators until interrupted (``dsar sandbox up``).

    With ``as_json`` the first (and only) line echoed is :func:`describe_shops` as JSON, so a
    script can read it; otherwise :func:`listing_shops`. Ctrl+C raises ``KeyboardInterrupt``
    after the servers have stopped; SIGTERM returns.
    """
    with running_shops(shops, **create_kwargs) as running:
        if as_json:
            echo(json.dumps(describe_shops(running)))
        else:
            for line in listing_shops(running):
                echo(line)
        sys.stdout.flush()  # a script reading the first line must not wait for a buffer
        _wait_for_stop()
