"""Domain errors. The API surfaces turn them into their own error shapes.

RingcastError
├── InvalidTransition     an action the campaign's status does not allow
├── ValidationFailed      one or more fields broke a domain rule (carries FieldError list)
├── NotFound              an id that does not exist, or that the caller may not see
└── Conflict              the request is valid but clashes with the current state
    └── LeaseLost         a job's lease passed to another process: stop, it carries on
"""

from __future__ import annotations

from dataclasses import dataclass


class RingcastError(Exception):
    """Root of every error the core raises on purpose."""


class InvalidTransition(RingcastError):
    """The campaign's current status does not allow the requested action."""

    def __init__(self, status: str, action: str) -> None:
        self.status = status
        self.action = action
        super().__init__(f"cannot {action} a campaign whose status is {status}")


@dataclass(frozen=True)
class FieldError:
    """One rejected value: where it was, what it was, and why it was refused."""

    field: str  #: path of the offending value, e.g. ``recipients[3].phone``
    rejected_value: object
    message: str


class ValidationFailed(RingcastError):
    """One or more values broke a domain rule."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))

    @classmethod
    def single(cls, field: str, value: object, message: str) -> ValidationFailed:
        return cls([FieldError(field, value, message)])


class NotFound(RingcastError):
    """The object does not exist, or belongs to someone else (we never say which)."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident} not found")


class Conflict(RingcastError):
    """The request is well formed but clashes with the current state."""


class LeaseLost(Conflict):
    """The job's lease lapsed and another process holds it now; whatever this one was
    about to write is rolled back, and the new holder carries the job on."""
