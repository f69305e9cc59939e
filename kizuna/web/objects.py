"""The object page ``/ui/objects/{stix-id}/``: the object as received, its fields, its TLP and why the reader
may see it, provenance, versions and their diff, relationships in and out, sightings, notes and opinions,
other reports of the same thing, and the forms to act on it.

Every read is the reader's: versions, links and the reports beside it come from the store's policy-filtered
reads. An id the reader may not read answers exactly as an id that does not exist (404).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kizuna.hub import policy
from kizuna.hub.index import CONJUNCTION_TCA_S, CONJUNCTION_TYPE, encode_key, entries, key_kind
from kizuna.hub.models import Collection, Org
from kizuna.hub.reads import Hit, Version
from kizuna.stix.ids import format_us, is_stix_id
from kizuna.stix.markings import MARKING_RANK, marking_refs
from kizuna.web.base import UiBase, href, object_href, pretty_json, q
from kizuna.web.diff import facts, field_diff, flatten
from kizuna.web.errors import BadParameter, WebError
from kizuna.web.summary import describe, parse_raw

#: Characters of pretty JSON shown on the page (the download has all of it).
MAX_JSON_CHARS = 100_000
#: References of an object listed per page (a report of 100,000 shows 50 at a time).
REFS_PER_PAGE = 50
#: Reports of one thing compared at most.
MAX_SAME = 200

OPINIONS = ("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")


def tca_runs(hits: list[Hit]) -> list[list[Hit]]:
    """Conjunctions of one NORAD pair grouped into events: sorted by TCA, a gap over
    :data:`CONJUNCTION_TCA_S` starts a new one."""
    timed = []
    for h in hits:
        e = entries(parse_raw(h.row.raw)).conjunction
        if e is not None:
            timed.append((e.tca_us, h))
    timed.sort(key=lambda t: (t[0], t[1].row.date_added_us))
    runs: list[list[Hit]] = []
    last: int | None = None
    for tca, h in timed:
        if last is None or tca - last > CONJUNCTION_TCA_S * 1_000_000:
            runs.append([])
        runs[-1].append(h)
        last = tca
    return runs


def run_key(key: str, run: list[Hit]) -> str:
    """The key of one conjunction event: the pair's key and the TCA of its first report."""
    first = entries(parse_raw(run[0].row.raw)).conjunction
    return f"{key}@{first.tca_us if first else 0}"


class ObjectPages(UiBase):
    async def object_page(self, request: Request) -> Response:
        org = await self.require_org(request)
        return await self.render_object(request, org, self.object_id(request), None)

    async def collection_object(self, request: Request) -> Response:
        """The first release's object address: the object page, limited to this collection."""
        org = await self.require_org(request)
        c = await self.readable_collection(org, request.path_params["collection_id"])
        return await self.render_object(request, org, self.object_id(request), c)

    async def object_redirect(self, request: Request) -> Response:
        target = object_href(str(request.path_params["object_id"]))
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(target, status_code=307)

    def chosen_version(self, versions: list[Version], params: Any, name: str = "added") -> Version:
        wanted = params.integer(name, lo=0, hi=2**62, default=None)
        if wanted is None:
            return versions[0]
        for v in versions:
            if v.hit.row.date_added_us == wanted:
                return v
        raise WebError(404, "Version not found", "That version is not available to you.")

    async def render_object(
        self, request: Request, org: Org, object_id: str, c: Collection | None
    ) -> Response:
        params = self.params(request)
        versions = await self.readable_versions(org, object_id, c)
        chosen = self.chosen_version(versions, params)
        hit = chosen.hit
        obj = parse_raw(hit.row.raw)
        scope = f"ui:links:{object_id}:{org.id}"
        links = {}
        for role, name in (
            ("source", "out"),
            ("target", "in"),
            ("sighting", "sightings"),
            ("about", "about"),
        ):
            after = self.cursor(params, name, scope + ":" + role)
            page = await self.run(self.store.linked, org, object_id, role, after=after, limit=50)
            cursor = page.cursor
            unique = {h.row.id: h for h in reversed(page.hits)}  # one sighting held in two collections: once
            links[name] = {
                "rows": [self.row_view(h) for h in page.hits if unique.get(h.row.id) is h],
                "next": href(
                    f"/objects/{q(object_id)}/",
                    **{name: self.cursors.encode(cursor, scope=scope + ":" + role)},
                )
                + f"#{name}"
                if page.more and cursor is not None
                else None,
                "first": href(f"/objects/{q(object_id)}/") + f"#{name}" if after is not None else None,
            }
        refs = obj.get("object_refs") if isinstance(obj.get("object_refs"), list) else None
        refs_from = params.integer("refs", lo=0, hi=10_000_000, default=0) or 0
        ref_page = None
        if refs is not None:
            ref_page = {
                "ids": [r for r in refs[refs_from : refs_from + REFS_PER_PAGE] if isinstance(r, str)],
                "total": len(refs),
                "start": refs_from,
                "next": href(f"/objects/{q(object_id)}/", refs=refs_from + REFS_PER_PAGE) + "#refs"
                if refs_from + REFS_PER_PAGE < len(refs)
                else None,
                "prev": href(f"/objects/{q(object_id)}/", refs=max(0, refs_from - REFS_PER_PAGE)) + "#refs"
                if refs_from > 0
                else None,
            }
        text, cut = pretty_json(obj, limit=MAX_JSON_CHARS)
        others = await self.run(self.other_reports, org, hit, obj)
        statements = await self.run(self.statement_markings, org, obj)
        producer_identity = await self.run(self.identity_name, org, obj.get("created_by_ref"))
        writable = await self.writable_collections(org)
        result = None
        result_id = params.one("result")
        if result_id:
            result = await self.run(self.store.write_result, result_id[:100], org)
        fields = {
            k: v for k, v in flatten({k: v for k, v in obj.items() if k not in ("object_refs",)}).items()
        }
        return self.render(
            request,
            "object.html",
            object_id=object_id,
            obj=obj,
            hit=hit,
            row=self.row_view(hit),
            version=chosen,
            versions=[
                {
                    "v": v,
                    "row": self.row_view(v.hit),
                    "chosen": v is chosen,
                    "href": object_href(object_id, added=v.hit.row.date_added_us),
                }
                for v in versions
            ],
            why=self.why(org, chosen),
            fields=fields,
            refs=ref_page,
            links=links,
            others=others,
            statements=statements,
            producer_identity=producer_identity,
            pretty_json=text,
            json_cut=cut,
            json_href=href(f"/objects/{q(object_id)}/json", added=hit.row.date_added_us),
            diff_action=href(f"/objects/{q(object_id)}/diff"),
            writable=writable,
            default_collection=hit.collection.id,
            can_revoke=policy.org_origin(org) == hit.row.origin and not hit.revoked and bool(hit.row.version),
            is_indicator=hit.row.type == "indicator",
            is_conjunction=hit.row.type == CONJUNCTION_TYPE,
            is_assessment=hit.row.type == "x-kizuna-minerals-assessment",
            opinions=OPINIONS,
            result=result,
            tlp_choices=("clear", "green", "amber", "amber+strict", "red"),
            lang=obj.get("lang") if isinstance(obj.get("lang"), str) else None,
            date_added=format_us(hit.row.date_added_us),
        )

    def why(self, org: Org, v: Version) -> str:
        """Why this reader may see this version, in one plain sentence."""
        row = v.hit.row
        level = str(row.tlp)
        marked = "" if row.marked else " (it carries no TLP marking of its own; the hub enforces this level)"
        basis = policy.read_basis(
            row.tlp, restricted=v.restricted, produced=v.reader_produced, named=v.reader_named
        )
        if basis is policy.ReadBasis.COLLECTION:
            return (
                f"{level}{marked}: shared with readers of collection \u201c{v.hit.collection.title}\u201d;"
                f" you read as {org.name}."
            )
        what = "a restricted copy" if v.restricted else level + marked
        if basis is policy.ReadBasis.PRODUCER:
            return f"{what}: only its producer and the recipients it names may read it; {org.name} posted it."
        return (
            f"{what}: only its producer and the recipients it names may read it; it names {org.name} as a"
            " recipient."
        )

    def identity_name(self, org: Org, ref: object) -> str | None:
        if not isinstance(ref, str) or not is_stix_id(ref):
            return None
        found = self.store.versions(org, ref)
        if not found:
            return None
        name = parse_raw(found[0].hit.row.raw).get("name")
        return name if isinstance(name, str) else None

    def statement_markings(self, org: Org, obj: dict[str, Any]) -> list[dict[str, str]]:
        """Markings other than TLP: their statements where the reader may read the definition."""
        out = []
        for ref in dict.fromkeys(marking_refs(obj)):
            if ref in MARKING_RANK:
                continue
            text = ""
            found = self.store.versions(org, ref) if is_stix_id(ref) else []
            if found:
                definition = parse_raw(found[0].hit.row.raw)
                body = definition.get("definition")
                if isinstance(body, dict) and isinstance(body.get("statement"), str):
                    text = body["statement"]
                elif isinstance(definition.get("name"), str):
                    text = definition["name"]
            out.append({"id": ref, "statement": text})
        return out

    def other_reports(self, org: Org, hit: Hit, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """For each sameness key of the object: how many other readable reports describe it differently."""
        out = []
        keys = list(entries(obj).keys)
        sampled = self.store.same_members_of(org, keys, limit=MAX_SAME) if keys else {}  # one statement
        for key in keys:
            members = sampled[key]
            group_key = key
            if key_kind(key) == "conjunction":
                for run in tca_runs(members):
                    if any(m.row.date_added_us == hit.row.date_added_us for m in run):
                        members, group_key = run, run_key(key, run)
                        break
                else:
                    members = []
            mine = facts(obj, key)
            different = [
                m for m in members if m.row.id != hit.row.id and facts(parse_raw(m.row.raw), key) != mine
            ]
            if different:
                out.append(
                    {
                        "key": key,
                        "count": len(different),
                        "sources": len({m.source.origin for m in different}),
                        "href": href(f"/disagreements/{encode_key(group_key)}"),
                    }
                )
        return out

    async def object_json(self, request: Request) -> Response:
        """The version as received (the stored bytes), as a download (audited)."""
        org = await self.require_org(request)
        object_id = self.object_id(request)
        versions = await self.readable_versions(org, object_id)
        chosen = self.chosen_version(versions, self.params(request))
        await self.audit_download(
            org,
            "object",
            {"id": object_id, "version": chosen.hit.row.version, "collection": chosen.hit.collection.id},
        )
        return Response(
            chosen.hit.row.raw,
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{object_id}.json"'},
        )

    async def object_diff(self, request: Request) -> Response:
        org = await self.require_org(request)
        object_id = self.object_id(request)
        params = self.params(request)
        versions = await self.readable_versions(org, object_id)
        if params.one("a") is None or params.one("b") is None:
            raise BadParameter("a", "choose two versions to compare")
        a = self.chosen_version(versions, params, "a")
        b = self.chosen_version(versions, params, "b")
        changes = field_diff(parse_raw(a.hit.row.raw), parse_raw(b.hit.row.raw))
        return self.render(
            request,
            "diff.html",
            object_id=object_id,
            a=self.row_view(a.hit),
            b=self.row_view(b.hit),
            changes=changes,
            changed=sum(1 for ch in changes if ch.kind != "same"),
            description=describe(parse_raw(b.hit.row.raw)),
        )
