"""Turning received JSON into objects ready to store: validation, recipients, version keys."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from kizuna.errors import InvalidObject
from kizuna.hub import policy
from kizuna.hub.models import Incoming
from kizuna.hub.store.sqlite import to_us
from kizuna.stix.ids import parse_timestamp
from kizuna.stix.validate import validate_object


def prepare(items: Sequence[object], failures: list[dict[str, str]]) -> list[Incoming]:
    """Validate each item; invalid ones go to ``failures`` (id and reason), valid ones come back ready."""
    incoming: list[Incoming] = []
    for index, obj in enumerate(items):
        try:
            v = validate_object(obj)
        except InvalidObject as exc:
            oid = obj.get("id") if isinstance(obj, dict) else None
            failures.append({"id": oid if isinstance(oid, str) else f"objects[{index}]", "message": str(exc)})
            continue
        assert isinstance(obj, dict)
        recipients = obj.get(policy.RECIPIENTS_PROPERTY, [])
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            failures.append(
                {"id": v.id, "message": f"{policy.RECIPIENTS_PROPERTY} must be a list of organisation names"}
            )
            continue
        version_us = to_us(parse_timestamp(v.version_key)) if v.version_key else 0
        incoming.append(
            Incoming(
                id=v.id,
                type=v.type,
                spec_version=v.spec_version,
                version=v.version_key,
                version_us=version_us,
                tlp=v.tlp,
                raw=orjson.dumps(obj),
                recipients=tuple(recipients),
            )
        )
    return incoming
