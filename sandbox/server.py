"""Serving the three emulators: in-process for tests, on fixed ports for ``dsar sandbox up``.

:class:`Sandbox` holds the seeded states and each emulator's configuration and builds the
ASGI apps. :func:`running_sandbox` serves them with uvicorn on 127.0.0.1 from one background
thread (free ports unless ``port_base`` is given) and stops them cleanly, freeing the ports;
:func:`serve_forever` does the same until interrupted and prints where to find them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette

from sandbox.config import Clock, EmulatorConfig, WallClock, utc_now
from sandbox.credentials import DEFAULT_CREDENTIALS, DEFAULT_PORT_BASE, ShopCredentials
from sandbox.faults import DroppedConnection, FaultConfig, FaultInjector
from sandbox.klaviyo import KlaviyoState, create_klaviyo_app
from sandbox.klaviyo_state import Profile
from sandbox.mailchimp import MailchimpState, create_mailchimp_app
from sandbox.ratelimit import KlaviyoLimits, MailchimpLimits, ShopifyLimits
from sandbox.seed import seed_sandbox
from sandbox.shopify import ShopifyState, create_shopify_app

EMULATORS = ("shopify", "klaviyo", "mailchimp")
HOST = "127.0.0.1"


@dataclass
class Sandbox:
    """The three emulators' states and configurations; apps are built once, on first use."""

    shopify: ShopifyState
    klaviyo: KlaviyoState
    mailchimp: MailchimpState
    configs: dict[str, EmulatorConfig]
    shopify_limits: ShopifyLimits = field(default_factory=ShopifyLimits)
    klaviyo_limits: KlaviyoLimits = field(default_factory=KlaviyoLimits)
    mailchimp_limits: MailchimpLimits = field(default_factory=MailchimpLimits)
    injectors: dict[str, FaultInjector] = field(default_factory=dict)
    credentials: ShopCredentials = DEFAULT_CREDENTIALS
    _apps: dict[str, Starlette] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        seed: int = 1234,
        customers: int = 2000,
        newsletter_only: int | None = None,
        events_per_profile: int = 8,
        faults: FaultConfig | Mapping[str, FaultConfig] | None = None,
        async_delay: float = 1.0,
        time_scale: float = 1.0,
        rate_limits: bool = True,
        shopify_limits: ShopifyLimits | None = None,
        klaviyo_limits: KlaviyoLimits | None = None,
        mailchimp_limits: MailchimpLimits | None = None,
        clock: Clock = time.monotonic,
        wall_clock: WallClock = utc_now,
        credentials: ShopCredentials = DEFAULT_CREDENTIALS,
        second_shop: bool = False,
    ) -> Sandbox:
        """Seed the data and configure the emulators.

        ``faults`` is one :class:`FaultConfig` for all three emulators or a mapping from
        ``"shopify"``, ``"klaviyo"``, ``"mailchimp"`` to each one's own. ``wall_clock`` is
        the emulators' date and time of day (which API versions are served, how old an order is).
        ``credentials`` are what the emulators accept; ``second_shop`` seeds another shop's
        data (:func:`~sandbox.seed.seed_sandbox`).
        """
        per_emulator = _faults_by_emulator(faults)
        configs = {
            name: EmulatorConfig(
                async_delay=async_delay,
                time_scale=time_scale,
                faults=per_emulator[name],
                rate_limits=rate_limits,
                clock=clock,
                wall_clock=wall_clock,
            )
            for name in EMULATORS
        }
        data = seed_sandbox(
            seed=seed,
            customers=customers,
            newsletter_only=newsletter_only,
            events_per_profile=events_per_profile,
            list_id=credentials.mailchimp_list_id,
            shopify_token=credentials.shopify_token,
            second_shop=second_shop,
        )
        return cls(
            shopify=data.shopify,
            klaviyo=data.klaviyo,
            mailchimp=data.mailchimp,
            configs=configs,
            shopify_limits=shopify_limits or ShopifyLimits(),
            klaviyo_limits=klaviyo_limits or KlaviyoLimits(),
            mailchimp_limits=mailchimp_limits or MailchimpLimits(),
            injectors={name: FaultInjector(configs[name].faults) for name in EMULATORS},
            credentials=credentials,
        )

    def sync_shop_to_klaviyo(self, email: str) -> str | None:
        """Run Klaviyo's Shopify integration for one address, as its periodic sync does.

        A shop customer with the address and no Klaviyo profile gets a new profile (a new id)
        from the shop's record, so a profile deleted at Klaviyo while the shop still holds the
        customer comes back. The new profile's id, or ``None`` when nothing was created.
        """
        wanted = email.strip().lower()
        with self.shopify.lock:
            customers = [c for c in self.shopify.visible() if (c.email or "").lower() == wanted]
        if not customers or self.klaviyo.find("email", email):
            return None
        customer = customers[0]
        profile = Profile(
            id=self.klaviyo.new_id(),
            email=customer.email,
            first_name=customer.first_name,
            last_name=customer.last_name,
            external_id=str(customer.id),
            properties={"$source": "Shopify"},
        )
        with self.klaviyo.lock:
            self.klaviyo.profiles[profile.id] = profile
        return profile.id

    def injector(self, name: str) -> FaultInjector:
        """The fault injector of one emulator (e.g. to :meth:`~FaultInjector.force_throttle`)."""
        return self.injectors.setdefault(name, FaultInjector(self.configs[name].faults))

    @property
    def shopify_app(self) -> Starlette:
        """The Shopify emulator's ASGI app."""
        if "shopify" not in self._apps:
            self._apps["shopify"] = create_shopify_app(
                self.shopify,
                self.configs["shopify"],
                limits=self.shopify_limits,
                injector=self.injector("shopify"),
            )
        return self._apps["shopify"]

    @property
    def klaviyo_app(self) -> Starlette:
        """The Klaviyo emulator's ASGI app."""
        if "klaviyo" not in self._apps:
            self._apps["klaviyo"] = create_klaviyo_app(
                self.klaviyo,
                self.configs["klaviyo"],
                limits=self.klaviyo_limits,
                injector=self.injector("klaviyo"),
                api_key=self.credentials.klaviyo_api_key,
            )
        return self._apps["klaviyo"]

    @property
    def mailchimp_app(self) -> Starlette:
        """The Mailchimp emulator's ASGI app."""
        if "mailchimp" not in self._apps:
            self._apps["mailchimp"] = create_mailchimp_app(
                self.mailchimp,
                self.configs["mailchimp"],
                limits=self.mailchimp_limits,
                injector=self.injector("mailchimp"),
                api_key=self.credentials.mailchimp_api_key,
            )
        return self._apps["mailchimp"]

    def apps(self) -> dict[str, Starlette]:
        """All three apps by emulator name."""
        return {name: getattr(self, f"{name}_app") for name in EMULATORS}


def _faults_by_emulator(
    faults: FaultConfig | Mapping[str, FaultConfig] | None,
) -> dict[str, FaultConfig]:
    if faults is None or isinstance(faults, FaultConfig):
        return dict.fromkeys(EMULATORS, faults or FaultConfig())
    unknown = set(faults) - set(EMULATORS)
    if unknown:
        raise ValueError(f"no such emulator: {', '.join(sorted(unknown))}")
    return {name: faults.get(name, FaultConfig()) for name in EMULATORS}


@dataclass(frozen=True)
class RunningSandbox:
    """Where the served emulators answer, and with which credentials."""

    sandbox: Sandbox
    shopify_url: str
    klaviyo_url: str
    mailchimp_url: str
    shopify_token: str = DEFAULT_CREDENTIALS.shopify_token
    klaviyo_api_key: str = DEFAULT_CREDENTIALS.klaviyo_api_key
    mailchimp_api_key: str = DEFAULT_CREDENTIALS.mailchimp_api_key
    mailchimp_list_id: str = DEFAULT_CREDENTIALS.mailchimp_list_id

    def env(self) -> dict[str, str]:
        """The engine's settings that point it at these emulators."""
        return {
            "DSAR_SHOPIFY_URL": self.shopify_url,
            "DSAR_SHOPIFY_TOKEN": self.shopify_token,
            "DSAR_KLAVIYO_URL": self.klaviyo_url,
            "DSAR_KLAVIYO_API_KEY": self.klaviyo_api_key,
            "DSAR_MAILCHIMP_URL": self.mailchimp_url,
            "DSAR_MAILCHIMP_API_KEY": self.mailchimp_api_key,
            "DSAR_MAILCHIMP_LIST_ID": self.mailchimp_list_id,
        }

    def describe(self) -> dict[str, Any]:
        """URLs, credentials and environment, as ``dsar sandbox up --json`` prints them."""
        return {
            "shopify": {"url": self.shopify_url, "token": self.shopify_token},
            "klaviyo": {"url": self.klaviyo_url, "api_key": self.klaviyo_api_key},
            "mailchimp": {
                "url": self.mailchimp_url,
                "api_key": self.mailchimp_api_key,
                "list_id": self.mailchimp_list_id,
            },
            "env": self.env(),
        }

    def listing(self) -> list[str]:
        """The human-readable version of :meth:`describe`."""
        return [
            "Sandbox emulators on 127.0.0.1 (Ctrl+C stops them):",
            f"  Shopify    {self.shopify_url}   token {self.shopify_token}",
            f"  Klaviyo    {self.klaviyo_url}   api key {self.klaviyo_api_key}",
            f"  Mailchimp  {self.mailchimp_url}   api key {self.mailchimp_api_key}, "
            f"list {self.mailchimp_list_id}",
            "",
            "Point the engine at them:",
            *(f"export {key}={value}" for key, value in self.env().items()),
        ]


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every injected dropped connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop records about :class:`DroppedConnection`."""
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, DroppedConnection)


def _quiet_dropped_connections() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def _bind(port: int) -> socket.socket:
    # With the protocol named, asyncio recognises a TCP socket and switches Nagle's algorithm
    # off for each connection; without it every kept-alive answer waits ~40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


class _Servers:
    """Three uvicorn servers on one event loop in one background thread."""

    def __init__(self, apps: list[Starlette], sockets: list[socket.socket]) -> None:
        self.sockets = sockets
        self.servers = [
            uvicorn.Server(
                uvicorn.Config(
                    app,
                    http="h11",
                    ws="none",
                    lifespan="off",
                    log_config=None,
                    log_level="warning",
                    access_log=False,
                    timeout_graceful_shutdown=2,
                )
            )
            for app in apps
        ]
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="sandbox-servers", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread, re-raised
            self.failure = exc

    async def _serve(self) -> None:
        await asyncio.gather(
            *(s.serve(sockets=[sock]) for s, sock in zip(self.servers, self.sockets, strict=True))
        )

    def start(self, timeout: float) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not all(s.started for s in self.servers):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox servers did not start") from self.failure
            time.sleep(0.01)

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        self.thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


@contextmanager
def running_sandbox(
    *,
    port_base: int | None = None,
    sandbox: Sandbox | None = None,
    startup_timeout: float = 10.0,
    **create_kwargs: Any,
) -> Iterator[RunningSandbox]:
    """Serve the emulators on 127.0.0.1 for the duration of the ``with`` block.

    ``port_base`` N puts Shopify on N, Klaviyo on N+1 and Mailchimp on N+2 (``OSError`` if
    one is taken); ``None`` picks three free ports. Pass a prepared ``sandbox``, or keyword
    arguments for :meth:`Sandbox.create`. On exit the servers stop and the ports are free.
    """
    box = sandbox or Sandbox.create(**create_kwargs)
    sockets: list[socket.socket] = []
    try:
        for offset in range(len(EMULATORS)):
            sockets.append(_bind(0 if port_base is None else port_base + offset))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    shopify, klaviyo, mailchimp = (f"http://{HOST}:{s.getsockname()[1]}" for s in sockets)
    apps = box.apps()
    _quiet_dropped_connections()
    servers = _Servers([apps[name] for name in EMULATORS], sockets)
    servers.start(startup_timeout)
    try:
        c = box.credentials
        keys = (c.shopify_token, c.klaviyo_api_key, c.mailchimp_api_key, c.mailchimp_list_id)
        yield RunningSandbox(box, shopify, klaviyo, mailchimp, *keys)
    finally:
        servers.stop()


def serve_forever(
    *,
    port_base: int = DEFAULT_PORT_BASE,
    as_json: bool = False,
    echo: Callable[[str], None] = print,
    **create_kwargs: Any,
) -> None:
    """Run the emulators on ports ``port_base``..``port_base + 2`` until interrupted.

    With ``as_json`` the first (and only) line echoed is :meth:`RunningSandbox.describe` as
    JSON, so a script can read it; otherwise a listing with ``export DSAR_...`` lines.
    Ctrl+C raises ``KeyboardInterrupt`` after the servers have stopped; SIGTERM returns.
    """
    with running_sandbox(port_base=port_base, **create_kwargs) as running:
        if as_json:
            echo(json.dumps(running.describe()))
        else:
            for line in running.listing():
                echo(line)
        sys.stdout.flush()  # a script reading the first line must not wait for a buffer
        _wait_for_stop()


def _wait_for_stop() -> None:
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
