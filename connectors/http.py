"""The one HTTP layer every connector talks through.

It builds the clients (explicit timeouts and connection limits, injectable transport), paces
requests with the processor's rate limiter, turns every httpx exception and every status code
into a :mod:`connectors.errors` class in one place (:func:`map_transport_error`,
:func:`classify_response`), and retries only :class:`~connectors.errors.TransientError` with
tenacity: exponential back-off with jitter, ``Retry-After`` honoured up to a cap, bounded in
attempts and in total time. A call that is not idempotent is only repeated when the processor
cannot have acted on it (the connection never opened, or a 429 refused it); otherwise the
error surfaces and the caller reconciles, so that a retry never doubles a side effect.
Processor modules never create httpx clients or import tenacity themselves.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, wait_random_exponential

from connectors.errors import (
    ProtocolError,
    TransientError,
)
from connectors.ratelimit import Clock, RateLimiter, Sleep, Unlimited
from connectors.responses import (
    classify_response,
    decode_json,
    map_transport_error,
)

log = structlog.get_logger(__name__)

#: Connect quickly or fail; give a slow processor half a minute to answer.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
#: Enough parallelism for a request's steps, small enough not to flood one processor.
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)
USER_AGENT = "dsar-connectors/0.1"

#: Every exception family httpx raises (``InvalidURL`` and friends are not ``HTTPError``).
HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.CookieConflict,
    httpx.StreamError,
)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One certificate-verifying TLS context for every client: building one from the CA
    bundle costs ~20 ms of CPU, which per connector and request would dominate fan-out."""
    return ssl.create_default_context(cafile=certifi.where())


def _redact_httpx_log() -> None:
    from dsar.logging import RedactingFilter

    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


def build_client(
    *,
    processor: str,
    base_url: str,
    headers: Mapping[str, str],
    auth: httpx.Auth | tuple[str, str] | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    limits: httpx.Limits = DEFAULT_LIMITS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for one processor; ``transport`` lets tests swap the network.

    httpx's own request log lines (URLs whose query strings may hold an e-mail address) are
    masked by the engine's redacting filter before any handler sees them.

    Redirects are not followed: a processor API that redirects is misconfigured, and following
    it would send the credentials to another address.
    """
    _redact_httpx_log()
    return httpx.AsyncClient(
        base_url=base_url,
        verify=_tls_context(),
        headers={"User-Agent": f"{USER_AGENT} ({processor})", **headers},
        auth=auth,
        timeout=timeout,
        limits=limits,
        transport=transport,
        follow_redirects=False,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, total time, back-off, the ``Retry-After`` cap, and the clock.

    ``sleep`` and ``clock`` are injectable so tests and benchmarks control time.
    """

    max_attempts: int = 5
    max_elapsed: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 30.0
    sleep: Sleep = field(default=asyncio.sleep, compare=False)
    clock: Clock = field(default=time.monotonic, compare=False)


Inspector = Callable[[httpx.Response], None]


class ProcessorClient:
    """One processor's client: rate limit, error mapping and bounded retries around httpx."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        processor: str,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.processor = processor
        self._client = client
        self._limiter = limiter if limiter is not None else Unlimited()
        self._policy = retry or RetryPolicy()
        self._backoff = wait_random_exponential(
            multiplier=self._policy.backoff_initial, max=self._policy.backoff_max
        )
        origin = urlsplit(str(client.base_url))
        self._origin = (origin.scheme, origin.netloc)

    @classmethod
    def create(
        cls,
        *,
        processor: str,
        base_url: str,
        headers: Mapping[str, str],
        auth: httpx.Auth | tuple[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> ProcessorClient:
        """Build the httpx client (:func:`build_client`) and wrap it."""
        client = build_client(
            processor=processor,
            base_url=base_url,
            headers=headers,
            auth=auth,
            timeout=timeout,
            transport=transport,
        )
        return cls(client, processor=processor, limiter=limiter, retry=retry)

    async def aclose(self) -> None:
        """Close the underlying connections."""
        await self._client.aclose()

    def _limit_key(self, url: str) -> str:
        """The path a request is charged to; absolute URLs must stay on the processor's origin.

        Pagination links come from the processor's responses; following one to another host
        would hand it our credentials, so that is refused as a protocol violation.
        """
        parts = urlsplit(url)
        if (parts.scheme or parts.netloc) and (parts.scheme, parts.netloc) != self._origin:
            raise ProtocolError("link points away from the processor", processor=self.processor)
        return parts.path

    async def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        allow: Collection[int] = (),
        inspect: Inspector | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one logical request, retrying transient failures within the policy's bounds.

        ``idempotent`` says whether repeating the call is harmless (a GET, a PUT of the same
        state, a deletion that tolerates "already gone"). ``allow`` lists non-2xx statuses the
        caller handles itself (e.g. 404 meaning "no such member"). ``inspect`` runs on every
        returned response inside the retry loop, so a processor's in-body throttling signal
        (Shopify GraphQL ``THROTTLED``) can raise a retried TransientError.
        Remaining keyword arguments go to ``httpx.AsyncClient.request``.
        """
        policy = self._policy
        path = self._limit_key(url)
        start = policy.clock()

        def retryable(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            return isinstance(exc, TransientError) and (idempotent or exc.replay_safe)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TransientError) and exc.retry_after is not None:
                return min(exc.retry_after, policy.retry_after_cap)
            return float(self._backoff(state))

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= policy.max_attempts:
                return True
            return policy.clock() - start + state.upcoming_sleep > policy.max_elapsed

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.info(
                "connector_retry",
                processor=self.processor,
                method=method,
                status=getattr(exc, "status", None),
                error=type(exc).__name__,
                attempt=state.attempt_number,
                wait=round(state.upcoming_sleep, 3),
            )

        retrying = AsyncRetrying(
            retry=retryable,
            wait=wait,
            stop=stop,
            sleep=policy.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(method, url, path, allow, inspect, kwargs)
        raise AssertionError(
            "unreachable: tenacity either returns or re-raises"
        )  # pragma: no cover

    async def _send_once(
        self,
        method: str,
        url: str,
        path: str,
        allow: Collection[int],
        inspect: Inspector | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        await self._limiter.acquire(path)
        headers: httpx.Headers | None = None
        try:
            response = await self._client.request(method, url, **kwargs)
            headers = response.headers
        except HTTPX_ERRORS as exc:
            raise map_transport_error(exc, processor=self.processor) from exc
        finally:
            self._limiter.release(path, headers)
        if response.status_code not in allow:
            error = classify_response(response, processor=self.processor)
            if error is not None:
                raise error
        if inspect is not None:
            inspect(response)
        return response

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        allow: Collection[int] = (),
        inspect: Inspector | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        """Like :meth:`request`, returning the status and the decoded JSON body (or ``None``)."""
        response = await self.request(
            method, url, idempotent=idempotent, allow=allow, inspect=inspect, **kwargs
        )
        return response.status_code, decode_json(response, processor=self.processor)
