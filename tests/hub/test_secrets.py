"""No secret is ever shown (issue 14): two real hubs with DEBUG logging, used over TAXII, the web UI,
sync, ingest (a MISP file and a feed on 127.0.0.1, into the running hub) and a tool reading a hub through
its client; every log line, audit record, HTTP response, command output and file the run wrote is searched
for every token, token secret, session id and peer credential it created, and for a password written into
a URL."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import orjson
import pytest

from kizuna.hub.auth import hash_token
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from tests.conftest import free_port, kizuna_cli, start_hub_process
from tests.hub.conftest import BACKENDS, new_place
from tests.ingest.feeds import feed_event, serve, write_feed

GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
URL_PASSWORD = "Pa55-in-a-url-9f3c"


def _indicator(n: int) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{n:08x}-1111-4111-8111-111111111111",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '203.0.113.{n}']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
        "object_marking_refs": [GREEN],
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_secret_reaches_a_log_an_answer_an_audit_record_or_a_file(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL the database's tables are searched as the SQLite file is."""
    seen: list[str] = []  # everything the run showed anyone
    places = {name: new_place(request, backend, tmp_path, name) for name in ("uk", "jp")}
    hubs = {name: place.db for name, place in places.items()}
    env_of = {place.db: place.env for place in places.values()}

    def cli(*args: str, check: bool = True) -> str:
        db = args[args.index("--db") + 1] if "--db" in args else None
        proc = kizuna_cli(*args, check=check, env=env_of.get(db or "", {}))
        seen.extend([proc.stdout, proc.stderr])
        return proc.stdout.strip()

    for name, db in hubs.items():
        cli("hub", "init", "--db", db, "--title", name)
        cli("hub", "org", "add", "analyst", "--db", db, "--ceiling", "red")
    made_tokens: list[str] = []

    def token(db: str, org: str) -> str:
        t = kizuna_cli("hub", "token", "create", "--db", db, "--org", org, env=env_of[db]).stdout.strip()
        made_tokens.append(t)  # its stdout is where a token is meant to appear, once
        return t

    uk_analyst = token(hubs["uk"], "analyst")
    token(hubs["jp"], "analyst")
    for here, there in (("uk", "jp"), ("jp", "uk")):
        cli("hub", "org", "add", f"{there}-hub", "--db", str(hubs[here]), "--peer-hub", "--ceiling", "amber")
    uk_for_jp, jp_for_uk = token(hubs["uk"], "jp-hub"), token(hubs["jp"], "uk-hub")
    cids = {}
    for name, db in hubs.items():
        other = "jp-hub" if name == "uk" else "uk-hub"
        cids[name] = cli(
            "hub", "collection", "add", "--db", str(db), "--title", "shared",
            "--read", f"analyst,{other}", "--write", f"analyst,{other}", "--default-tlp", "green",
        )  # fmt: skip
    ports = {name: free_port() for name in hubs}
    secret_file = tmp_path / "jp.credential"
    secret_file.write_text(jp_for_uk + "\n")
    secret_file.chmod(0o600)
    cli(
        "hub", "peer", "add", "jp-hub", "--db", str(hubs["uk"]), "--url", f"http://127.0.0.1:{ports['jp']}/api/",
        "--token-file", str(secret_file), "--pull", f"{cids['jp']}:{cids['uk']}",
        "--push", f"{cids['uk']}:{cids['jp']}", "--max-tlp", "green",
    )  # fmt: skip
    back_file = tmp_path / "uk.credential"
    back_file.write_text(uk_for_jp + "\n")
    back_file.chmod(0o600)
    cli(
        "hub", "peer", "add", "uk-hub", "--db", str(hubs["jp"]), "--url", f"http://127.0.0.1:{ports['uk']}/api/",
        "--token-file", str(back_file), "--max-tlp", "green",
    )  # fmt: skip
    refused = kizuna_cli(
        "hub", "peer", "add", "leaky", "--db", str(hubs["uk"]),
        "--url", f"http://admin:{URL_PASSWORD}@127.0.0.1:9/api/", "--token-file", str(secret_file),
        check=False, env=places["uk"].env,
    )  # fmt: skip
    assert refused.returncode == 2
    seen.extend([refused.stdout, refused.stderr])
    procs = {
        name: start_hub_process(
            hubs[name],
            ports[name],
            "--log-format",
            "json",
            "--log-level",
            "debug",
            env=places[name].env,
            log_path=tmp_path / f"{name}.log",
        )
        for name in hubs
    }
    try:
        uk = f"http://127.0.0.1:{ports['uk']}"
        taxii = {"Accept": TAXII_MEDIA_TYPE, "Content-Type": TAXII_MEDIA_TYPE}

        def show(r: httpx.Response) -> httpx.Response:
            # Set-Cookie is where the session id is meant to go, once, to the browser that logged in
            headers = {k: v for k, v in r.headers.items() if k.lower() != "set-cookie"}
            seen.append(f"{r.status_code} {headers} {r.text}")
            return r

        with httpx.Client(base_url=uk, timeout=30) as http:
            auth = {"Authorization": f"Bearer {uk_analyst}", **taxii}
            objects = [_indicator(i) for i in range(3)]
            show(
                http.post(
                    f"/api/collections/{cids['uk']}/objects/",
                    content=orjson.dumps({"objects": objects}),
                    headers=auth,
                )
            )
            show(http.get(f"/api/collections/{cids['uk']}/objects/", headers=auth))
            basic = base64.b64encode(f"analyst:{uk_analyst}".encode()).decode()
            show(http.get("/api/collections/", headers={"Authorization": f"Basic {basic}", **taxii}))
            wrong = f"kzn_{hash_token(uk_analyst).key_id}_{'w' * 43}"
            made_tokens.append(wrong)
            show(http.get("/taxii2/", headers={"Authorization": f"Bearer {wrong}", **taxii}))
            show(http.get(f"/taxii2/?token={uk_analyst}", headers=taxii))
            # the web UI: log in, browse, log out
            page = show(http.post("/ui/login", data={"token": uk_analyst}, follow_redirects=False))
            session = page.cookies.get("kizuna_session")
            assert session and len(session) > 20
            show(http.get(f"/ui/collections/{cids['uk']}"))
            show(http.get("/ui/"))
            show(http.post("/ui/logout", follow_redirects=False))
            show(http.post("/ui/login", data={"token": wrong}))
        # sync both ways, then a tool reading the hub through its client
        cli("hub", "sync", "--db", str(hubs["uk"]), "--once")
        cli("hub", "peer", "list", "--db", str(hubs["uk"]), "--json")
        cli("hub", "peer", "list", "--db", str(hubs["uk"]))
        token_file = tmp_path / "analyst.token"
        token_file.write_text(uk_analyst + "\n")
        token_file.chmod(0o600)
        cli(
            "match", "export", "--format", "zeek-intel", "--out", str(tmp_path / "zeek"),
            "--hub", f"{uk}/api/", "--token-file", str(token_file), "--collection", cids["uk"],
        )  # fmt: skip
        # ingest through the running hub with the same token file: a MISP file, then a feed on 127.0.0.1
        ingest_to_hub = ("--hub", f"{uk}/api/", "--token-file", str(token_file), "--collection", cids["uk"])
        event_file = tmp_path / "event.json"
        event_file.write_bytes(orjson.dumps(feed_event(99)))
        cli("ingest", "misp", str(event_file), *ingest_to_hub)
        feed = write_feed(tmp_path / "feed", [feed_event(n) for n in range(3)])
        with serve(feed) as feed_url:
            cli("ingest", "misp-feed", feed_url, *ingest_to_hub)
        cli("hub", "token", "list", "--db", str(hubs["uk"]), "--json")
    finally:
        for p in procs.values():
            p.terminate()
            p.wait(timeout=20)
    for db in hubs.values():
        seen.append(cli("hub", "audit", "list", "--db", str(db), "--json", "--limit", "100000"))
        assert "auth.fail" in seen[-1] or db == hubs["jp"]
    written = {
        p: p.read_bytes()
        for p in tmp_path.rglob("*")
        if p.is_file()
        and p not in (secret_file, back_file, token_file)  # files made to hold a secret, by the test
    }
    for place in places.values():  # a PostgreSQL hub's database is not a file here: its tables are read
        if place.postgres:
            written[Path(f"{place.db} (every table)")] = place.dump()
    logs = [b for p, b in written.items() if p.suffix == ".log"]
    assert logs and all(b.strip() for b in logs)
    lines = [orjson.loads(line) for b in logs for line in b.splitlines() if line.startswith(b"{")]
    assert lines and any(line["level"] == "debug" for line in lines)
    assert all(line["request_id"] for line in lines if line["logger"] == "kizuna.http")
    secrets = {
        "session id": [session],
        "password in a URL": [URL_PASSWORD],
        "token": made_tokens,
        "token secret": [t.split("_", 2)[2] for t in made_tokens],
        "peer credential": [jp_for_uk, uk_for_jp],
        "Basic credential": [basic],
    }
    text = "\n".join(seen)
    for kind, values in secrets.items():
        for value in values:
            assert value not in text, f"a {kind} was shown"
            for path, data in written.items():
                assert value.encode() not in data, f"a {kind} is in {path.name}"
