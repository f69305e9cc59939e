"""What a user reads when a hub says no or cannot be reached (issue 19), and taxii2-client on an alias URL.

A real ``kizuna hub serve`` process on 127.0.0.1; the real taxii2-client.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from taxii2client.v21 import Collection

from kizuna.errors import RemoteError
from kizuna.hub.client import HubClient
from kizuna.stix.markings import TLP, TLP2_IDS

from ..conftest import free_port, kizuna_cli, start_hub_process
from .conftest import BACKENDS, indicator, new_place


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """uk-ncsc writes and reads collection 'cni' (alias), uk-water-op only reads it; on each backend."""
    work = tmp_path_factory.mktemp("hub")
    place = new_place(request, request.param, work)
    env = {**place.env, "KIZUNA_DB": place.db}
    kizuna_cli("hub", "init", env=env)
    kizuna_cli("hub", "org", "add", "uk-ncsc", "--ceiling", "red", env=env)
    kizuna_cli("hub", "org", "add", "uk-water-op", "--ceiling", "amber", env=env)
    tokens = {
        o: kizuna_cli("hub", "token", "create", "--org", o, env=env).stdout.strip()
        for o in ("uk-ncsc", "uk-water-op")
    }
    cid = kizuna_cli(
        "hub",
        "collection",
        "add",
        "--title",
        "CNI",
        "--alias",
        "cni",
        "--read",
        "uk-ncsc,uk-water-op",
        "--write",
        "uk-ncsc",
        env=env,
    ).stdout.strip()
    port = free_port()
    proc = start_hub_process(place.db, port, env=place.env, log_path=work / "hub.log")
    try:
        yield {"api": f"http://127.0.0.1:{port}/api/", "cid": cid, **tokens}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_an_http_error_prints_its_title_and_description_as_two_parts(hub: dict[str, str]) -> None:
    with HubClient(hub["api"], hub["uk-water-op"]) as client, pytest.raises(RemoteError) as caught:
        client.add_objects("cni", [indicator()])
    exc = caught.value
    url = f"{hub['api']}collections/cni/objects/"
    assert str(exc) == f"POST {url}: HTTP 403 forbidden: you may not write to this collection"
    assert (exc.status, exc.remote_title, exc.remote_description) == (
        403, "forbidden", "you may not write to this collection"
    )  # fmt: skip
    with HubClient(hub["api"], "kzn_not-a-token") as client, pytest.raises(RemoteError) as caught:
        client.collections()
    assert str(caught.value).startswith(f"GET {hub['api']}collections/: HTTP 401 invalid credentials: ")


def test_a_hub_that_is_down_is_one_line_naming_the_url_and_the_cause() -> None:
    port = free_port()  # nothing listens there
    with (
        HubClient(f"http://127.0.0.1:{port}/api/", "t", timeout_s=5) as client,
        pytest.raises(RemoteError) as e,
    ):
        list(client.iter_objects("cni", added_after="2026-01-01T00:00:00Z"))
    assert (
        str(e.value)
        == f"cannot reach http://127.0.0.1:{port}/api/collections/cni/objects/: connection refused"
    )
    assert "Errno" not in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_peer_that_is_down_is_one_line_on_the_cli(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    place = new_place(request, backend, tmp_path)
    token = tmp_path / "t"
    token.write_text("x\n")
    token.chmod(0o600)
    env = {**place.env, "KIZUNA_DB": place.db}
    kizuna_cli("hub", "init", env=env)
    kizuna_cli("hub", "collection", "add", "--title", "C", "--alias", "c", env=env)
    url = f"http://127.0.0.1:{port}/api/"
    kizuna_cli(
        "hub",
        "peer",
        "add",
        "jp-hub",
        "--url",
        url,
        "--token-file",
        str(token),
        "--pull",
        "remote:c",
        env=env,
    )
    proc = kizuna_cli("hub", "sync", "--once", env=env, check=False)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert lines[0].startswith("kizuna: sync with jp-hub failed: ")
    assert lines[0].endswith(f"cannot reach {url}collections/remote/objects/: connection refused")
    assert lines[0].count("GET") <= 1 and "Errno" not in lines[0]


def test_taxii2_client_works_on_an_alias_url(hub: dict[str, str]) -> None:
    url = f"{hub['api']}collections/cni/"
    collection = Collection(url, user="uk-ncsc", password=hub["uk-ncsc"])
    assert collection.id == "cni" and collection.title == "CNI" and collection.can_write
    obj = indicator("198.51.100.77", tlp_ref=TLP2_IDS[TLP.GREEN])
    status = collection.add_objects({"objects": [obj]}, wait_for_completion=True, poll_interval=0.2)
    assert status.success_count == 1
    got = collection.get_objects()
    assert [o["id"] for o in got["objects"]] == [obj["id"]]
    assert collection.get_object(obj["id"])["objects"][0]["id"] == obj["id"]
    assert [m["id"] for m in collection.get_manifest()["objects"]] == [obj["id"]]
    # by its id the same collection answers with the id, as the list does
    by_id = Collection(f"{hub['api']}collections/{hub['cid']}/", user="uk-ncsc", password=hub["uk-ncsc"])
    assert by_id.id == hub["cid"] and [o["id"] for o in by_id.get_objects()["objects"]] == [obj["id"]]
