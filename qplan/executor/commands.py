"""What the core asks the driver to do (commands), and what comes back (outcomes).

The core never calls a provider nor writes the state: it returns commands, in the order
they must run. The driver runs them and hands each outcome back to the core. The one
order that matters for exactly-once: a ``Commit`` of intents comes before the ``Send`` of
their dispatch, in the same list, and the driver runs a list in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from qplan.executor.events import Event
from qplan.providers import Dispatch, Observation, ProviderError, Receipt
from qplan.state import Transition

__all__ = [
    "AskLimit",
    "Cancel",
    "Cancelled",
    "CloseSession",
    "Command",
    "Commit",
    "Emit",
    "FindSessions",
    "Forget",
    "Found",
    "Limit",
    "Lookup",
    "Observe",
    "ObserveSessions",
    "Observed",
    "OpenSession",
    "Outcome",
    "Release",
    "Send",
    "Sent",
    "SessionClosed",
    "SessionOpened",
    "SessionsFound",
    "SessionsObserved",
]


@dataclass(frozen=True)
class Commit:
    """Write ``transitions`` (and ``results``) to the state, in one transaction."""

    transitions: tuple[Transition, ...]
    results: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Forget:
    """Drop rows from the state; their history stays."""

    addresses: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class Send:
    """Submit ``dispatch`` to ``provider``; ``addresses`` are its members', in order."""

    provider: str
    dispatch: Dispatch
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Lookup:
    """Find the dispatches ``provider`` has under ``keys``. ``purpose`` says what for:
    ``recover`` (intents of unknown fate) or ``cancel`` (jobs to cancel)."""

    provider: str
    keys: tuple[str, ...]
    since: float | None
    purpose: str = "recover"


@dataclass(frozen=True)
class Observe:
    """Statuses of ``job_ids`` at ``provider``; results of the succeeded ones are read
    in the same go."""

    provider: str
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class Cancel:
    provider: str
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class Release:
    provider: str
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class AskLimit:
    """How many members a native batch of ``job`` may hold at its provider."""

    provider: str
    job: str


@dataclass(frozen=True)
class OpenSession:
    session: str
    key: str


@dataclass(frozen=True)
class FindSessions:
    provider: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class CloseSession:
    session: str
    session_id: str
    abort: bool = False


@dataclass(frozen=True)
class ObserveSessions:
    """The provider's statuses of open sessions (by name: their ids)."""

    provider: str
    sessions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Emit:
    event: Event


Command = (
    Commit
    | Forget
    | Send
    | Lookup
    | Observe
    | Cancel
    | Release
    | AskLimit
    | OpenSession
    | FindSessions
    | CloseSession
    | ObserveSessions
    | Emit
)


# --- outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    command: Send
    receipt: Receipt | None
    error: ProviderError | None = None


@dataclass(frozen=True)
class Found:
    command: Lookup
    receipts: Mapping[str, Receipt] = field(default_factory=dict)
    error: ProviderError | None = None


@dataclass(frozen=True)
class Observed:
    """``results``: per succeeded job, a callable giving its canonical result or raising
    the provider's error (read concurrently by the driver)."""

    command: Observe
    observations: Mapping[str, Observation] = field(default_factory=dict)
    results: Mapping[str, Callable[[], bytes]] = field(default_factory=dict)
    error: ProviderError | None = None


@dataclass(frozen=True)
class Cancelled:
    command: Cancel
    error: ProviderError | None = None


@dataclass(frozen=True)
class Limit:
    command: AskLimit
    value: int | None
    error: ProviderError | None = None


@dataclass(frozen=True)
class SessionOpened:
    command: OpenSession
    session_id: str | None
    error: ProviderError | None = None


@dataclass(frozen=True)
class SessionsFound:
    command: FindSessions
    ids: Mapping[str, str] = field(default_factory=dict)
    error: ProviderError | None = None


@dataclass(frozen=True)
class SessionClosed:
    command: CloseSession
    error: ProviderError | None = None
    status: str | None = None  # the provider's status of the session once closed


@dataclass(frozen=True)
class SessionsObserved:
    command: ObserveSessions
    statuses: Mapping[str, str] = field(default_factory=dict)  # by session id
    error: ProviderError | None = None


Outcome = (
    Sent
    | Found
    | Observed
    | Cancelled
    | Limit
    | SessionOpened
    | SessionsFound
    | SessionClosed
    | SessionsObserved
)
