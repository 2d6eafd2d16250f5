"""``serve DIR`` without a store over real HTTP on 127.0.0.1: the web application (FastAPI on
uvicorn, `optimizer.web.run`) serving the pages alone (no browser: see tests/browser for that;
with a store: tests/web)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
from maps_plan import make_plan

from optimizer.outputs import maps
from optimizer.outputs.write import write_manifest
from optimizer.web.run import serve_forever, start_server
from optimizer.web.site import ServeError, build_links, format_links, load_tokens


def _write_plan(out: Path) -> None:
    plan = make_plan()
    maps.write_overview(plan, out / "index.html")
    pages = {}
    for route in plan.routes:
        cid = route.collector.collector_id
        pages[cid] = maps.collector_page_filename(cid)
        maps.write_collector_page(plan, route, out / pages[cid])
    write_manifest(plan, out, overview="index.html", pages=pages)


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan")
    _write_plan(out)
    return out


@pytest.fixture(scope="module")
def server(plan_dir):
    with start_server(plan_dir, port=0) as running:
        yield running


def _get(url: str, method: str = "GET") -> tuple[int, bytes, Message]:
    """Status, body and headers (names case-insensitive, as HTTP has them)."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def test_each_page_behind_its_own_token(server):
    links = server.links
    assert set(links.collectors) == {"C01", "C02", "C03"}
    urls = [links.overview, *links.collectors.values()]
    tokens = [u.rstrip("/").rsplit("/", 1)[1] for u in urls]
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) >= 40 for t in tokens)  # 32 random bytes, url-safe base64
    for cid, url in links.collectors.items():
        status, body, headers = _get(url)
        assert status == 200
        text = body.decode("utf-8")
        assert maps.page_meta(text)["collector-id"] == cid
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        # the same page without the trailing slash
        assert _get(url.rstrip("/"))[0] == 200


def test_overview_served_with_qr_per_collector_link(server):
    status, body, _ = _get(server.links.overview)
    assert status == 200
    text = body.decode("utf-8")
    section = text[text.index(maps.LINKS_BEGIN) : text.index(maps.LINKS_END)]
    assert section.count("<svg") == 3
    for url in server.links.collectors.values():
        assert f'href="{url}"' in section
    # the file on disk keeps its plain links
    site = server.site
    assert "<svg" not in (site.plan_dir / "index.html").read_text(encoding="utf-8")


def test_assets_under_token_and_shared_path(server):
    token_url = server.links.collectors["C01"]
    for url in (
        token_url + "assets/leaflet/leaflet.js",
        server.base_url + "/assets/leaflet/leaflet.js",
        server.base_url + "/assets/leaflet/leaflet.css",
        server.base_url + "/assets/leaflet/images/layers.png",
        server.base_url + "/assets/collector-routes.js",
    ):
        status, body, headers = _get(url)
        assert status == 200, url
        assert len(body) > 100
    assert _get(server.base_url + "/assets/collector-routes.js")[2]["Content-Type"].startswith(
        "text/javascript"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/index.html",
        "/C01.html",
        "/links.json",
        "/assets/",
        "/assets/../links.json",
        "/assets/leaflet/LICENSE",
        "/assets/../../etc/passwd",
        "/%2e%2e/links.json",
        "/nonexistent-token/",
        "/nonexistent-token/assets/leaflet/leaflet.js",
        "/favicon.ico",
    ],
)
def test_other_paths_answer_404_and_leak_nothing(server, path):
    status, body, headers = _get(server.base_url + path)
    assert status == 404
    assert body == b""
    assert "Location" not in headers


def test_wrong_token_and_near_misses_404(server):
    url = server.links.collectors["C01"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    for bad in (token[:-1], token + "x", token.upper(), token[1:] + token[0]):
        assert _get(f"{server.base_url}/{bad}/")[0] == 404
    assert _get(f"{url}C01.html")[0] == 404
    assert _get(f"{url}../links.json")[0] == 404
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        assert _get(url, method=method)[:2] == (404, b"")


def test_malformed_requests_get_an_answer_that_leaks_nothing(server):
    """No server name, nothing of the request echoed (the stdlib's error page did both):
    uvicorn answers a request it cannot parse with a bare 400 and a fixed sentence."""
    import socket

    host, port = "127.0.0.1", server.port
    requests = (
        b"BREW /pot HTTP/1.1\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    )
    for raw in requests:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert answer == b"" or head.startswith(b"HTTP/1.1 400 "), raw[:20]
        assert b"\r\nserver:" not in head.lower(), head
        assert body in (b"", b"Invalid HTTP request received."), (raw[:20], body[:200])


def test_tokens_persist_across_restarts(plan_dir):
    with start_server(plan_dir, port=0) as first:
        before = first.links
    path = plan_dir / "links.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with start_server(plan_dir, port=0) as second:
        after = second.links
    strip = lambda u: u.split("/", 3)[3]  # noqa: E731 - drop scheme/host/port
    assert strip(after.overview) == strip(before.overview)
    assert {k: strip(v) for k, v in after.collectors.items()} == {
        k: strip(v) for k, v in before.collectors.items()
    }
    saved = json.loads(path.read_text())
    assert set(saved["collectors"]) == {"C01", "C02", "C03"}


def test_build_links_and_token_file(tmp_path_factory):
    plan_dir = tmp_path_factory.mktemp("plan")
    _write_plan(plan_dir)
    token_file = tmp_path_factory.mktemp("tok") / "t.json"
    links = build_links(plan_dir, "http://10.0.0.5:8000/", token_file=token_file)
    assert links.overview.startswith("http://10.0.0.5:8000/") and links.overview.endswith("/")
    tokens = load_tokens(plan_dir, token_file=token_file)
    assert links.collectors["C02"] == f"http://10.0.0.5:8000/{tokens['collectors']['C02']}/"
    assert not (plan_dir / "links.json").exists()
    text = format_links(links)
    assert text.splitlines()[0].startswith("overview  http://10.0.0.5:8000/")
    assert len(text.splitlines()) == 4


def test_missing_or_empty_plan_dir_is_explained(tmp_path):
    with pytest.raises(ServeError, match="no such plan directory"):
        start_server(tmp_path / "nope", port=0)
    with pytest.raises(ServeError, match="holds no complete plan .manifest.json missing"):
        start_server(tmp_path, port=0)


def test_team_members_each_get_a_link(tmp_path):
    # the CLI writes one page per member of a team route, named <member>.html
    plan = make_plan()
    route = plan.routes[0]
    team = dataclasses.replace(route, members=("C01", "C07"))
    plan = dataclasses.replace(plan, routes=(team, *plan.routes[1:]))
    maps.write_overview(plan, tmp_path / "index.html")
    for member in team.members:
        maps.write_collector_page(plan, team, tmp_path / f"{member}.html")
    write_manifest(plan, tmp_path, overview="index.html",
                   pages={m: f"{m}.html" for m in team.members})
    with start_server(tmp_path, port=0) as running:
        assert set(running.links.collectors) == {"C01", "C07"}
        bodies = [_get(u)[1] for u in running.links.collectors.values()]
    assert all(b"K-1001" in b for b in bodies)


def test_ids_that_used_to_share_a_file_each_get_their_page(tmp_path):
    """``K/1``, ``K_1`` and ``k_1`` (and a team member ``t/2``): one page and link each."""
    plan = make_plan()
    base = plan.routes[0]
    routes = []
    for cid, members in (("K/1", ()), ("K_1", ()), ("k_1", ("k_1", "t/2"))):
        collector = dataclasses.replace(base.collector, collector_id=cid)
        routes.append(dataclasses.replace(base, collector=collector, members=members or (cid,)))
    plan = dataclasses.replace(plan, routes=tuple(routes))
    maps.write_overview(plan, tmp_path / "index.html")
    for route in routes:
        for member in route.members:  # as optimizer.outputs.write writes them
            maps.write_collector_page(
                plan, route, tmp_path / maps.collector_page_filename(member), collector_id=member
            )
    write_manifest(plan, tmp_path, overview="index.html",
                   pages={m: maps.collector_page_filename(m) for r in routes for m in r.members})
    with start_server(tmp_path, port=0) as running:
        links = running.links.collectors
        assert set(links) == {"K/1", "K_1", "k_1", "t/2"}
        assert len(set(links.values())) == 4
        for cid, url in links.items():
            meta = maps.page_meta(_get(url)[1].decode("utf-8"))
            assert meta["route"] == ("k_1" if cid == "t/2" else cid)
        overview = _get(running.links.overview)[1].decode("utf-8")
    for url in links.values():
        assert f'href="{url}"' in overview


def test_serve_forever_prints_links_and_stops_on_interrupt(plan_dir, monkeypatch):
    import io

    import uvicorn

    def interrupted(self, sockets=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(uvicorn.Server, "run", interrupted)
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):  # the CLI turns it into 'interrupted', exit 130
        serve_forever(plan_dir, port=0, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Serving the pages alone (no case store")
    assert lines[1].startswith("overview  http://127.0.0.1:")
    assert {line.split()[0] for line in lines[2:]} == {"C01", "C02", "C03"}


def test_text_is_gzipped_for_clients_that_accept_it(server):
    import gzip

    for url in (server.links.collectors["C01"], server.base_url + "/assets/leaflet/leaflet.js"):
        plain = _get(url)[1]
        req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, deflate"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            body = resp.read()
        assert len(body) < len(plain) / 2
        assert gzip.decompress(body) == plain
    # images are sent as they are
    req = urllib.request.Request(
        server.base_url + "/assets/leaflet/images/layers.png", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers.get("Content-Encoding") is None


def test_public_url_is_used_in_links_and_qr_codes(plan_dir):
    with start_server(plan_dir, port=0, public_url="http://192.0.2.10:9000/") as running:
        assert running.links.overview.startswith("http://192.0.2.10:9000/")
        assert all(
            u.startswith("http://192.0.2.10:9000/") for u in running.links.collectors.values()
        )
        assert running.base_url == "http://192.0.2.10:9000"
        port = running.port
        token = running.links.collectors["C01"].split("/")[3]
        status, body, _ = _get(f"http://127.0.0.1:{port}/{token}/")
        assert status == 200
        status, body, _ = _get(f"http://127.0.0.1:{port}/{running.links.overview.split('/')[3]}/")
        assert b'href="http://192.0.2.10:9000/' in body


# --------------------------------------------------------------------------- no store


def test_pages_alone_have_no_form_and_recording_is_refused_in_words(server):
    """Without a store: the page has no outcome form and may connect nowhere; a collector's
    outcome post (a page cached from a server with a store) gets a 403 that says why and
    what to do; the lender API and its schema do not exist."""
    import json as _json

    url = server.links.collectors["C01"]
    status, body, headers = _get(url)
    text = body.decode("utf-8")
    assert status == 200 and "cr-outcome-config" not in text and "cr-outcomes.js" not in text
    csp = headers["Content-Security-Policy"]
    assert "connect-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    # the customer's name and phone are masked on the page served, as written by `plan`
    assert "张三明" not in text and "张*明" in text and "13812345678" not in text
    body_json = _json.dumps({"key": "k1", "case_id": "K-1001", "outcome": "not_home",
                             "event_time": "2026-11-30T10:05:00+08:00"}).encode()
    for method in ("POST", "GET"):
        req = urllib.request.Request(url + "api/outcomes", method=method,
                                     data=body_json if method == "POST" else None,
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as got:
            urllib.request.urlopen(req, timeout=10)
        answer = _json.loads(got.value.read())
        assert got.value.code == 403 and answer["error"] == "recording_disabled", answer
        assert "without a case store" in answer["message"] and "--store" in answer["message"]
    # a token that opens no collector page learns nothing: the same empty 404 as before
    overview = server.links.overview.split("/")[3]
    for token in (overview, "nonexistent-token"):
        status, body, _ = _get(f"{server.base_url}/{token}/api/outcomes", method="POST")
        assert (status, body) == (404, b""), token
    for path in ("/api/v1/outcomes", "/api/v1/openapi.json", "/docs", "/openapi.json"):
        assert _get(server.base_url + path)[:2] == (404, b""), path


def test_cli_serve_without_a_store_runs_the_web_application(plan_dir, tmp_path):
    """``collector-routes serve DIR`` (no --store, no $COLLECTOR_ROUTES_STORE) in its own
    process: the links printed open the pages; Ctrl-C ends it with 'interrupted'."""
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLLECTOR_ROUTES_STORE"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    env["XDG_DATA_HOME"] = str(tmp_path)  # where the default store would be made
    p = subprocess.Popen([sys.executable, "-m", "optimizer", "serve", str(plan_dir), "--port",
                          "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, cwd=tmp_path)
    try:
        assert p.stdout is not None
        head = p.stdout.readline()
        assert head.startswith("Serving the pages alone"), head
        overview = p.stdout.readline().split()[1]
        links = dict(p.stdout.readline().split() for _ in range(3))
        assert set(links) == {"C01", "C02", "C03"}
        assert _get(links["C01"])[0] == 200 and _get(overview)[0] == 200
        assert _get(links["C01"] + "api/outcomes", method="POST")[0] == 403
    finally:
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    assert p.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err
    assert not list(tmp_path.iterdir())  # no store was made, the default one neither
