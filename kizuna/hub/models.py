"""The hub's records: organisations, collections, grants, stored rows, queries and status resources."""

from __future__ import annotations

from dataclasses import dataclass, field

from kizuna.stix.markings import TLP


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    ceiling: TLP
    country: str | None = None
    sectors: tuple[str, ...] = ()
    peer_hub: bool = False
    identity_id: str | None = None


@dataclass(frozen=True, slots=True)
class Collection:
    id: str
    title: str
    default_tlp: TLP
    alias: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Grant:
    can_read: bool
    can_write: bool


@dataclass(frozen=True, slots=True)
class Incoming:
    """One validated object ready to be stored."""

    id: str
    type: str
    spec_version: str
    version: str  # `modified` (or `created`) as written; "" for objects without one
    version_us: int  # the same instant in microseconds since the epoch; 0 when none
    tlp: TLP | None  # from the object's markings; None when unmarked
    raw: bytes  # serialised object, as received (canonical JSON bytes)
    recipients: tuple[str, ...] = ()  # RED recipients named by the producer (org names or identity ids)


@dataclass(frozen=True, slots=True)
class VersionFilter:
    """``match[version]``: any of last / first / all / explicit timestamps (microseconds)."""

    last: bool = True
    first: bool = False
    all: bool = False
    at_us: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    """What a TAXII read asks for; every field maps onto an indexed column."""

    added_after_us: int | None = None
    limit: int = 1000
    after: tuple[int, int] | None = None  # keyset cursor (date_added_us, seq) from `next`
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: VersionFilter = field(default_factory=VersionFilter)
    spec_versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    id: str
    type: str
    spec_version: str
    version: str
    date_added_us: int
    raw: bytes
    tlp: TLP  # the TLP the hub enforces: the object's marking, or the default it was stored with
    marked: bool  # False when the object carries no TLP marking of its own


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    more: bool


@dataclass(slots=True)
class StatusRecord:
    """The TAXII status resource of one POST."""

    id: str
    request_timestamp: str
    successes: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    pendings: list[dict[str, str]] = field(default_factory=list)
    total_count: int = 0

    def resource(self) -> dict[str, object]:
        pending = len(self.pendings)
        return {
            "id": self.id,
            "status": "complete" if pending == 0 else "pending",
            "request_timestamp": self.request_timestamp,
            "total_count": self.total_count,
            "success_count": len(self.successes),
            "successes": self.successes,
            "failure_count": len(self.failures),
            "failures": self.failures,
            "pending_count": pending,
            "pendings": self.pendings,
        }


@dataclass(frozen=True, slots=True)
class Flow:
    """One direction of one collection pair with a peer; ``cursor`` is durable progress."""

    id: int
    direction: str  # "pull" or "push"
    remote_collection: str
    local_collection: str
    cursor: str = ""
    transferred: int = 0
    refused: int = 0
    last_success: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Peer:
    """Another hub this hub syncs with. ``secret`` is the encrypted credential (never shown)."""

    id: int
    name: str
    url: str
    user: str | None
    secret: bytes
    max_tlp: TLP
    types: tuple[str, ...]
    flows: tuple[Flow, ...] = ()
    last_success: str | None = None
    last_error: str | None = None
