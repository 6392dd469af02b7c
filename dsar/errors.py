"""The domain's exceptions.

Every error the domain raises derives from :class:`DsarError`, so an edge (CLI, intake
service, flow) can catch one class and translate it::

    DsarError
    ├── InputError            bad input from a person or a file (CLI exit 2, HTTP 4xx)
    │   ├── RegisterError     a processing register that does not validate
    │   └── DeadlineError     a deadline that cannot be computed (unknown regime, naive time)
    ├── NotFoundError         an id that names nothing stored
    ├── InvalidTransition     a status change the lifecycle forbids
    ├── IdentityError         a requester who has not (or cannot) prove control of a contact point
    └── AuditError            the audit trail cannot be appended to or read

Messages never contain personal data: they name ids, fields and rules, not people.
"""

from __future__ import annotations


class DsarError(Exception):
    """Base class of every domain error."""


class InputError(DsarError):
    """Input from a person or a file is invalid; the message says what and why."""


class RegisterError(InputError):
    """A processing register failed to load or validate.

    ``source`` is the file, ``location`` the dotted path to the bad field (may be empty when the
    file as a whole is unreadable) and ``reason`` why it was rejected.
    """

    def __init__(self, source: str, location: str, reason: str) -> None:
        self.source = source
        self.location = location
        self.reason = reason
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {reason}")


class DeadlineError(InputError):
    """A deadline cannot be computed from the given input."""


class NotFoundError(DsarError):
    """The id names nothing that is stored."""


class InvalidTransition(DsarError):
    """The lifecycle forbids moving a request (or a step) from its status to the one asked."""

    def __init__(
        self, current: str, target: str, *, reason: str = "", what: str = "a request"
    ) -> None:
        self.current = current
        self.target = target
        msg = f"cannot move {what} from {current!r} to {target!r}"
        super().__init__(f"{msg}: {reason}" if reason else msg)


class IdentityError(DsarError):
    """The requester's identity is not (or can no longer be) verified."""


class AuditError(DsarError):
    """The audit trail cannot be appended to or read."""
