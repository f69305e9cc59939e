"""Acting on what you read: "we saw this" (a sighting), a note, an opinion, revoking your own object, and
uploading a STIX bundle.

Every write goes through :func:`kizuna.hub.intake.accept` with the sender a TAXII POST by the same
organisation would have (:func:`kizuna.hub.intake.sender_for`), into a collection it may write to: the same
validation, policy, ownership rules and audit record. Every form carries the session's CSRF token and is
checked together with its ``Origin`` (:meth:`UiBase.check_post`); a refusal answers 403 with what was typed.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kizuna.errors import KizunaError
from kizuna.hub import intake, policy
from kizuna.hub.models import Collection, Org, WriteResult
from kizuna.stix.ids import format_timestamp, from_us, parse_timestamp, to_us
from kizuna.stix.markings import TLP2_IDS, parse_level
from kizuna.web.base import MAX_UPLOAD_BYTES, UiBase, object_href
from kizuna.web.errors import BadParameter, WebError
from kizuna.web.objects import OPINIONS
from kizuna.web.params import Params, parse_moment_us
from kizuna.web.summary import parse_raw

TLP_CHOICES = ("clear", "green", "amber", "amber+strict", "red")
#: Longest note or explanation.
MAX_TEXT_CHARS = 10_000


class ActionPages(UiBase):
    # -- shared -----------------------------------------------------------------------------------------
    async def target_collection(self, org: Org, params: Params) -> Collection:
        """The collection a form writes to: one the organisation may write."""
        cid = params.one("collection")
        if not cid:
            raise BadParameter("collection", "choose a collection to post to")
        c = await self.run(self.store.get_collection, cid)
        g = None if c is None else await self.run(self.store.grant, c, org)
        if c is None or not policy.may_see_collection(g):
            raise BadParameter("collection", f"no collection {cid!r} is available to you")
        if not policy.may_write(g):
            raise WebError(403, "Collection not writable", "You may not post to this collection.")
        return c

    async def write(self, org: Org, c: Collection, objects: list[object]) -> WriteResult:
        """Store through the one intake, as the organisation's TAXII POST would."""

        def work() -> WriteResult:
            try:
                sender = intake.sender_for(self.store, org)
            except KizunaError as exc:
                raise WebError(403, "Not allowed", str(exc)) from None
            return intake.accept(self.store, c, sender, objects, clock=self.clock, new_id=self.new_id)

        return await self.run(work)

    def now_text(self) -> str:
        return format_timestamp(self.clock())

    def marking(self, params: Params) -> list[str]:
        level = parse_level(params.choice("tlp", TLP_CHOICES, "amber"))
        return [TLP2_IDS[level]]

    def back(self, object_id: str, result: WriteResult) -> Response:
        return RedirectResponse(object_href(object_id, result=result.id) + "#result", status_code=303)

    def new_stix_id(self, kind: str) -> str:
        return f"{kind}--{self.new_id()}"

    def base_object(self, kind: str, org: Org, params: Params) -> dict[str, Any]:
        now = self.now_text()
        obj: dict[str, Any] = {
            "type": kind,
            "spec_version": "2.1",
            "id": self.new_stix_id(kind),
            "created": now,
            "modified": now,
            "object_marking_refs": self.marking(params),
        }
        if org.identity_id:
            obj["created_by_ref"] = org.identity_id
        return obj

    # -- we saw this --------------------------------------------------------------------------------------
    async def post_sighting(self, request: Request) -> Response:
        org = await self.require_org(request)
        object_id = self.object_id(request)
        params = await self.form(request)
        versions = await self.readable_versions(org, object_id)
        if versions[0].hit.row.type != "indicator":
            raise WebError(400, "Not an indicator", "Sightings are posted on indicators.")
        c = await self.target_collection(org, params)
        count = params.integer("count", lo=1, hi=999_999_999, default=1) or 1
        first = params.one("first_seen")
        last = params.one("last_seen")
        obj = self.base_object("sighting", org, params)
        obj.update(sighting_of_ref=object_id, count=count)
        first_us = parse_moment_us("first_seen", first) if first else None
        last_us = parse_moment_us("last_seen", last) if last else None
        if first_us is not None and last_us is not None and last_us < first_us:
            raise BadParameter("last_seen", "must not be before first seen")
        if first_us is not None:
            obj["first_seen"] = format_timestamp(from_us(first_us))
        if last_us is not None:
            obj["last_seen"] = format_timestamp(from_us(last_us))
        if org.identity_id:
            obj["where_sighted_refs"] = [org.identity_id]
        result = await self.write(org, c, [obj])
        return self.back(object_id, result)

    # -- a note, an opinion ---------------------------------------------------------------------------------
    async def post_note(self, request: Request) -> Response:
        org = await self.require_org(request)
        object_id = self.object_id(request)
        params = await self.form(request)
        await self.readable_versions(org, object_id)
        c = await self.target_collection(org, params)
        content = params.text("content")
        if not content:
            raise BadParameter("content", "write the note")
        if len(content) > MAX_TEXT_CHARS:
            raise BadParameter("content", f"at most {MAX_TEXT_CHARS} characters")
        obj = self.base_object("note", org, params)
        obj.update(content=content, object_refs=[object_id])
        abstract = params.text("abstract")
        if abstract:
            obj["abstract"] = abstract[:300]
        if org.name:
            obj["authors"] = [org.name]
        return self.back(object_id, await self.write(org, c, [obj]))

    async def post_opinion(self, request: Request) -> Response:
        org = await self.require_org(request)
        object_id = self.object_id(request)
        params = await self.form(request)
        await self.readable_versions(org, object_id)
        c = await self.target_collection(org, params)
        opinion = params.choice("opinion", OPINIONS, "")
        if not opinion:
            raise BadParameter("opinion", "choose whether you agree")
        obj = self.base_object("opinion", org, params)
        obj.update(opinion=opinion, object_refs=[object_id])
        explanation = params.text("explanation")
        if len(explanation) > MAX_TEXT_CHARS:
            raise BadParameter("explanation", f"at most {MAX_TEXT_CHARS} characters")
        if explanation:
            obj["explanation"] = explanation
        if org.name:
            obj["authors"] = [org.name]
        return self.back(object_id, await self.write(org, c, [obj]))

    # -- revoke -----------------------------------------------------------------------------------------
    async def post_revoke(self, request: Request) -> Response:
        """A new version with ``revoked: true``, posted where the reader's latest version is held; the
        intake's owner rule refuses it for anyone but the object's owner."""
        org = await self.require_org(request)
        object_id = self.object_id(request)
        await self.form(request)
        versions = await self.readable_versions(org, object_id)
        latest = versions[0].hit
        obj = parse_raw(latest.row.raw)
        if not latest.row.version:
            raise WebError(400, "Cannot revoke", "Only objects with versions (SDOs, SROs) can be revoked.")
        previous_us = to_us(parse_timestamp(latest.row.version))
        now_us = max(to_us(self.clock()), previous_us + 1000)
        obj["modified"] = format_timestamp(from_us(now_us))
        obj["revoked"] = True
        g = await self.run(self.store.grant, latest.collection, org)
        if not policy.may_write(g):
            raise WebError(403, "Collection not writable", "You may not post to the collection holding it.")
        return self.back(object_id, await self.write(org, latest.collection, [obj]))

    # -- upload a bundle --------------------------------------------------------------------------------
    async def upload_form(self, request: Request) -> Response:
        org = await self.require_org(request)
        return self.render(
            request,
            "upload.html",
            writable=await self.writable_collections(org),
            result=None,
            typed={},
            error=None,
        )

    async def upload(self, request: Request) -> Response:
        org = await self.require_org(request)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_UPLOAD_BYTES + 65536):
            raise WebError(413, "Upload too large", f"Upload at most {MAX_UPLOAD_BYTES // 1_048_576} MiB.")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            try:
                form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_UPLOAD_BYTES)
            except Exception:  # a malformed multipart body: python-multipart's own errors
                raise WebError(400, "Malformed upload", "The upload could not be read.") from None
            try:
                fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
                upload = form.get("file")
                self.check_post(request, fields)
                data = b""
                if isinstance(upload, UploadFile):
                    data = await upload.read(MAX_UPLOAD_BYTES + 1)
            finally:
                await form.close()
        else:
            fields = await self.raw_form(request, limit=MAX_UPLOAD_BYTES)
            self.check_post(request, fields)
            data = b""
        params = Params.of([(k, v) for k, v in fields if k != "csrf"])
        if len(data) > MAX_UPLOAD_BYTES:
            raise WebError(413, "Upload too large", f"Upload at most {MAX_UPLOAD_BYTES // 1_048_576} MiB.")
        pasted = params.one("bundle") or ""
        if not data and pasted.strip():
            data = pasted.encode()
        writable = await self.writable_collections(org)
        typed = {"collection": params.one("collection") or "", "bundle": pasted}
        if not data.strip():
            return self.render(
                request, "upload.html", 400, writable=writable, result=None, typed=typed,
                error="Choose a STIX bundle file (JSON) or paste one.",
            )  # fmt: skip
        c = await self.target_collection(org, params)
        objects, problem = bundle_objects(data)
        if problem:
            return self.render(
                request, "upload.html", 400, writable=writable, result=None, typed=typed, error=problem
            )
        result = await self.write(org, c, objects)
        return self.render(
            request, "upload.html", writable=writable, result=result, typed={"collection": c.id}, error=None,
            collection=c,
        )  # fmt: skip


def bundle_objects(data: bytes) -> tuple[list[object], str | None]:
    """The objects of a STIX bundle, a TAXII envelope or a JSON list of objects; or why not."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            return [], f"The file is not JSON: {exc}"
    if isinstance(doc, dict) and isinstance(doc.get("objects"), list):
        return list(doc["objects"]), None
    if isinstance(doc, list):
        return list(doc), None
    if isinstance(doc, dict) and isinstance(doc.get("type"), str) and doc.get("type") != "bundle":
        return [doc], None
    return [], "The file is not a STIX bundle: give a JSON object with an 'objects' list."
