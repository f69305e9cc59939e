"""What kizuna's own STIX extensions share: the producer identity every hub publishes them under.

Each domain defines its ``extension-definition`` (``kizuna.space.publish``, ``kizuna.minerals.publish``)
with ``created_by_ref`` set to :data:`KIZUNA_IDENTITY_ID`; the identity is the same on every hub, so
partners receive one producer, however many hubs and domains publish.
"""

from __future__ import annotations

from typing import Any

from kizuna.stix.markings import TLP, TLP2_IDS

#: Stable id of the kizuna system identity (never regenerated).
KIZUNA_IDENTITY_ID = "identity--0c7b3d2a-5e8f-4a61-b7d4-2f9e6a1c8b35"
_DEFINED = "2026-01-01T00:00:00.000Z"


def kizuna_identity() -> dict[str, Any]:
    """The identity that defines kizuna's extensions (TLP:CLEAR: anyone may know it)."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": KIZUNA_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "kizuna",
        "description": "The kizuna exchange software; producer of kizuna's STIX extension definitions.",
        "identity_class": "system",
        "object_marking_refs": [TLP2_IDS[TLP.CLEAR]],
    }
