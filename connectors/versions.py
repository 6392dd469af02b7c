"""The API versions the connectors are pinned to, and how long each vendor supports them.

Vendors version their APIs by date and retire old versions on a published schedule:

* **Shopify** releases an Admin API version every quarter (``YYYY-01``, ``-04``, ``-07``,
  ``-10``) and supports each for at least twelve months from its release; a request for an
  unsupported version is then served by the oldest supported one ("falls forward"), silently
  changing field names and behaviour under the caller.
* **Klaviyo** names a revision by its release date (``YYYY-MM-DD``); a revision is stable for
  one year, deprecated for a second, and retired two years after its release. A retired
  revision is answered with an error.

The engine pins the newest versions whose published contracts it was checked against
(``vendor-contracts``) and refuses to run on a version past its end: a clear error naming the
setting, raised when a connector is built and when ``dsar serve`` starts. Within
:data:`WARN_DAYS` of the end it warns, so that the upgrade is planned rather than forced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

#: The Shopify Admin API version the connector speaks (the newest contract on file).
SHOPIFY_API_VERSION = "2026-10"
#: Shopify supports a quarterly version for twelve months from its release.
SHOPIFY_SUPPORT_MONTHS = 12

#: The Klaviyo API revision the connector sends (the newest contract on file).
KLAVIYO_REVISION = "2026-07-15"
#: Klaviyo retires a revision two years after its release (one stable, one deprecated).
KLAVIYO_SUPPORT_MONTHS = 24

#: How long before a version's end the engine starts warning.
WARN_DAYS = 60

_SHOPIFY = re.compile(r"(?P<y>\d{4})-(?P<m>01|04|07|10)")
_KLAVIYO = re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?:\.pre)?")


class UnsupportedVersion(ValueError):
    """A pinned API version is malformed or past its vendor's support window."""


@dataclass(frozen=True)
class SupportWindow:
    """When a vendor's API version was released and when its support ends."""

    vendor: str
    version: str
    released: date
    ends: date

    def days_left(self, today: date) -> int:
        """Days from ``today`` until support ends (negative once it has ended)."""
        return (self.ends - today).days

    def supported_on(self, today: date) -> bool:
        """Whether the vendor still serves this version as asked on ``today``."""
        return self.released <= today < self.ends


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, day.day)


def shopify_window(version: str) -> SupportWindow:
    """The support window of a Shopify Admin API version such as ``2026-10``."""
    match = _SHOPIFY.fullmatch(version)
    if match is None:
        raise UnsupportedVersion(
            f"{version!r} is not a Shopify API version (YYYY-01, -04, -07 or -10)"
        )
    released = date(int(match["y"]), int(match["m"]), 1)
    return SupportWindow(
        "Shopify", version, released, _add_months(released, SHOPIFY_SUPPORT_MONTHS)
    )


def klaviyo_window(revision: str) -> SupportWindow:
    """The support window of a Klaviyo revision such as ``2026-07-15``."""
    match = _KLAVIYO.fullmatch(revision)
    if match is None:
        raise UnsupportedVersion(f"{revision!r} is not a Klaviyo revision (YYYY-MM-DD)")
    try:
        released = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError as exc:
        raise UnsupportedVersion(f"{revision!r} is not a Klaviyo revision: {exc}") from None
    return SupportWindow(
        "Klaviyo", revision, released, _add_months(released, KLAVIYO_SUPPORT_MONTHS)
    )


def check_window(window: SupportWindow, *, setting: str, today: date) -> str | None:
    """Refuse a version past its end; return a warning within :data:`WARN_DAYS` of it.

    Raises :class:`UnsupportedVersion` naming ``setting`` (e.g. ``DSAR_SHOPIFY_API_VERSION``)
    when the vendor no longer supports the version on ``today``; returns ``None`` when all is
    well, or the text of a warning when the end is near.
    """
    left = window.days_left(today)
    if left <= 0:
        raise UnsupportedVersion(
            f"{setting}={window.version}: {window.vendor} support for this version ended on "
            f"{window.ends.isoformat()}; set a supported version"
        )
    if left <= WARN_DAYS:
        return (
            f"{setting}={window.version}: {window.vendor} support for this version ends on "
            f"{window.ends.isoformat()} ({left} days); plan the upgrade"
        )
    return None
