"""API fuzzing of the TAXII API with Schemathesis, from its OpenAPI description, with kizuna's own checks.

:func:`fuzz` runs every operation of ``/openapi/taxii.json`` with Hypothesis-generated requests (bounded in
examples per operation and in wall time, with a recorded seed), as each of three organisations and with bad
credentials, against the in-process ASGI app or a real ``kizuna hub serve``. Checks on every response:

* no 5xx;
* every error is a TAXII error message resource with the TAXII media type, and no stack trace, SQL text or
  file path;
* no response holds an object (objects, manifest records, versions) that the caller may not read, with
  :func:`kizuna.hub.policy.may_read` as the oracle over the rows in the database;
* built-in: status codes and content types as described, response bodies matching their schemas.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kizuna.hub import policy
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.models import Grant, Org
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.markings import TLP, TLP2_IDS
from tests.hub.conftest import Place

#: The seed of every run (recorded; override with KIZUNA_FUZZ_SEED to explore further).
SEED = int(os.environ.get("KIZUNA_FUZZ_SEED", "20261206"))

ORGS = {"uk-ncsc": TLP.RED, "jp-nisc": TLP.RED, "water-op": TLP.AMBER}
_LEAKS = re.compile(
    r"Traceback|File \"|sqlite|SELECT |INSERT |UPDATE |/tmp/|/home/|/var/|site-packages|\.py\b|"
    r"kzn_[0-9a-f]{16}_[A-Za-z0-9_-]{20}",
)


@dataclass
class FuzzHub:
    place: Place  # a SQLite file or a PostgreSQL schema
    tokens: dict[str, str]
    collections: dict[str, str]  # alias -> id
    object_ids: list[str]
    credentials: list[tuple[str | None, dict[str, str]]] = field(default_factory=list)  # (org, headers)


def _obj(n: int, tlp: TLP | None, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{n:08x}-0000-4000-8000-000000000000",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '198.51.100.{n}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
        **extra,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [TLP2_IDS[tlp]]
    return obj


def make_hub(tmp: Path, place: Place | None = None) -> FuzzHub:
    """A hub with three organisations (ceilings RED, AMBER, GREEN), two collections and objects at every
    TLP level, some RED ones naming a recipient: in ``tmp/fuzz.db``, or at ``place``."""
    from datetime import UTC, datetime

    from kizuna.hub import intake

    place = place or Place(str(tmp / "fuzz.db"), {}, False)
    tokens: dict[str, str] = {}
    with place.create() as s:
        for name, ceiling in ORGS.items():
            s.add_org(name, ceiling=ceiling)
            tokens[name] = new_token()
            s.add_token(name, hash_token(tokens[name]))
        shared = s.add_collection(
            "shared", alias="shared", readers=list(ORGS), writers=["uk-ncsc", "jp-nisc"]
        )
        private = s.add_collection(
            "private", alias="private", readers=["uk-ncsc"], writers=["uk-ncsc", "jp-nisc"]
        )
        uk, jp = s.get_org("uk-ncsc"), s.get_org("jp-nisc")
        objs = [
            _obj(1, TLP.CLEAR),
            _obj(2, TLP.GREEN),
            _obj(3, TLP.AMBER),
            _obj(4, TLP.AMBER_STRICT),
            _obj(5, TLP.RED),
            _obj(6, TLP.RED, x_kizuna_recipients=["jp-nisc"]),
            _obj(7, None),
            _obj(8, TLP.GREEN, modified="2026-01-02T00:00:00.000Z"),
        ]
        now = datetime(2026, 2, 1, tzinfo=UTC)
        for c in (shared, private):
            intake.accept(s, c, intake.Sender.local(uk), objs, clock=lambda: now)
        intake.accept(s, shared, intake.Sender.local(jp), [_obj(9, TLP.RED)], clock=lambda: now)
        ids = sorted({o["id"] for o in objs} | {_obj(9, TLP.RED)["id"]})
        hub = FuzzHub(place, tokens, {"shared": shared.id, "private": private.id}, ids)
    for name, token in tokens.items():
        hub.credentials.append((name, {"Authorization": f"Bearer {token}"}))
        basic = base64.b64encode(f"{name}:{token}".encode()).decode()
        hub.credentials.append((name, {"Authorization": f"Basic {basic}"}))
    wrong_user = base64.b64encode(f"jp-nisc:{tokens['uk-ncsc']}".encode()).decode()
    hub.credentials += [
        (None, {}),
        (None, {"Authorization": f"Bearer {new_token()}"}),
        (None, {"Authorization": f"Basic {wrong_user}"}),
        (None, {"Authorization": "Bearer"}),
        (None, {"Authorization": "Basic !!!"}),
        (None, {"Authorization": "Negotiate abc"}),
    ]
    return hub


# -- the oracle -----------------------------------------------------------------------------------------
def _may_read(place: Place, org_name: str, collection: str, object_id: str, version: str | None) -> bool:
    """Is there a stored version of ``object_id`` (at ``version``, if given) in ``collection`` (id or
    alias) that ``org_name`` may read? Reads the database directly; decides with ``policy.may_read``."""
    with place.connect() as conn:
        org_row = conn.execute("SELECT id, ceiling, peer_hub FROM orgs WHERE name=?", (org_name,)).fetchone()
        org = Org(int(org_row[0]), org_name, TLP(int(org_row[1])), peer_hub=bool(org_row[2]))
        ckey = conn.execute(
            "SELECT key FROM collections WHERE id=? OR alias=? ORDER BY id=? DESC LIMIT 1",
            (collection, collection, collection),
        ).fetchone()
        if ckey is None:
            return False
        g = conn.execute(
            "SELECT can_read, can_write FROM grants WHERE collection_key=? AND org_id=?", (ckey[0], org.id)
        ).fetchone()
        grant = None if g is None else Grant(bool(g[0]), bool(g[1]))
        rows = conn.execute(
            "SELECT date_added, version, tlp, producer_org_id, restricted FROM objects"
            " WHERE collection_key=? AND id=?",
            (ckey[0], object_id),
        ).fetchall()
        for date_added, row_version, tlp, producer, restricted in rows:
            if version is not None and version not in (row_version, ""):
                continue
            recipients = {
                r[0]
                for r in conn.execute("SELECT org_id FROM recipients WHERE object_added=?", (date_added,))
            }
            if policy.may_read(org, grant, TLP(int(tlp)), producer, recipients, restricted=bool(restricted)):
                return True
        return False


def _header(response: Any, name: str) -> str:
    value = response.headers.get(name) or response.headers.get(name.lower())
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value or "")


def kizuna_checks(hub: FuzzHub, org: str | None, case: Any, response: Any) -> None:
    """kizuna's checks on one response (AssertionError naming the request on a failure)."""
    where = f"{case.method} {case.formatted_path} {case.query} as {org}: {response.status_code}"
    assert response.status_code < 500, f"server error: {where} {response.content[:300]!r}"
    text = response.content.decode("utf-8", "replace")
    if response.status_code >= 400:
        assert _header(response, "content-type") == TAXII_MEDIA_TYPE, f"error media type: {where}"
        body = orjson.loads(response.content)
        assert isinstance(body, dict) and isinstance(body.get("title"), str), f"not a TAXII error: {where}"
        assert body.get("http_status") == str(response.status_code), where
    assert not _LEAKS.search(text), f"leak in {where}: {_LEAKS.search(text)}"
    if response.status_code != 200 or org is None or "collection_id" not in (case.path_parameters or {}):
        return
    if case.method.upper() == "DELETE":
        assert response.content == b"", where
        return
    body = orjson.loads(response.content)
    collection = str(case.path_parameters["collection_id"])
    seen: list[tuple[str, str | None]] = []
    for o in body.get("objects", []) or []:
        if "date_added" in o:  # a manifest record
            seen.append((o["id"], o.get("version")))
        else:
            seen.append((o["id"], o.get("modified") or o.get("created")))
    for v in body.get("versions", []) or []:
        seen.append((str(case.path_parameters["object_id"]), v))
    for object_id, version in seen:
        assert _may_read(hub.place, org, collection, object_id, version), (
            f"{org} got {object_id} {version}: {where}"
        )


def fuzz(
    schema: Any,
    hub: FuzzHub,
    *,
    examples: int,
    budget_s: float,
    call: Callable[[Any, dict[str, str]], Any],
) -> dict[str, int]:
    """Run every operation of ``schema``; returns requests made per operation and status. AssertionError on
    the first failing check (Hypothesis shrinks it and prints the request)."""
    deadline = time.monotonic() + budget_s
    made: dict[str, int] = {}
    by_status: dict[int, int] = {}
    who = st.sampled_from(hub.credentials)
    real_ids = st.sampled_from([*hub.collections.values(), *hub.collections, "no-such-collection"])
    real_objects = st.sampled_from(hub.object_ids)
    operations = [r.ok() for r in schema.get_all_operations()]
    for op in operations:
        label = f"{op.method.upper()} {op.path}"
        made[label] = 0

        @seed(SEED)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(case=op.as_strategy(), cred=who, cid=real_ids, oid=real_objects, real=st.booleans())
        def run(case: Any, cred: tuple[str | None, dict[str, str]], cid: str, oid: str, real: bool) -> None:
            if time.monotonic() > deadline:
                return
            params = dict(case.path_parameters or {})
            if real and "collection_id" in params:
                params["collection_id"] = cid
            if real and "object_id" in params:
                params["object_id"] = oid
            case.path_parameters = params
            org, headers = cred
            response = call(case, headers)
            made[label] += 1  # noqa: B023
            by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
            kizuna_checks(hub, org, case, response)
            if response.status_code < 400:
                case.validate_response(
                    response,
                    checks=[status_code_conformance, content_type_conformance, response_schema_conformance],
                    headers=headers,
                )

        run()
    made.update({f"status {k}": v for k, v in sorted(by_status.items())})
    return made


def asgi_schema(app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi/taxii.json", app)


def url_schema(base_url: str) -> Any:
    return schemathesis.openapi.from_url(base_url + "/openapi/taxii.json")
