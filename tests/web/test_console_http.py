"""The dispatcher console over real HTTP: who may do what, CSRF, the sign-in limit, headers,
the upload's validation table, the address fix the next import reuses; the CLI's
``users add``. (The pages in a real browser: tests/browser/test_console.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from consolehelp import PASSWORDS, csrf, running, signed_in, upload

from optimizer.store.db import Store
from optimizer.store.tables import AddressCorrection, ConsoleSession, ConsoleUser

ROOT = Path(__file__).resolve().parents[2]
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")


@pytest.fixture(scope="module")
def console(tmp_path_factory, cache_dir):
    with running(tmp_path_factory.mktemp("console"), cache_dir) as c:
        yield c


def _headers_ok(r: httpx.Response) -> None:
    for h in SECURITY_HEADERS:
        assert h in r.headers, (r.request.url, h)
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_every_answer_carries_the_security_headers(console):
    http = httpx.Client(base_url=console.base)
    for path in ("/", "/console/day", "/console/static/console.js", "/console/api/jobs/x",
                 "/nothing/here", "/assets/leaflet/leaflet.js"):
        _headers_ok(http.get(path))
    _headers_ok(http.post("/console/plan"))
    page = http.get("/")
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"].split("style-src")[0]


def test_not_signed_in_is_refused(console):
    http = httpx.Client(base_url=console.base)
    for path in ("/console/day", "/console/plan", "/console/published", "/console/board",
                 "/console/whatif"):
        r = http.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/", path
    assert http.get("/console/api/jobs/j1").status_code == 401
    for path in ("/console/plan", "/console/day/upload", "/console/day/address",
                 "/console/plans/d1/publish", "/console/plans/d1/adjust", "/console/logout"):
        assert http.post(path, data={"csrf": "x"}).status_code == 401, path


def test_the_planner_may_not_plan_or_publish(console):
    http = signed_in(console.base, "plan")
    assert http.get("/").headers["location"] == "/console/whatif"
    for path in ("/console/day", "/console/plan", "/console/published", "/console/board"):
        assert http.get(path).status_code == 403, path
    token = csrf(http.get("/console/whatif").text)
    for path in ("/console/plan", "/console/day/upload", "/console/plans/d1/publish",
                 "/console/plans/d1/adjust"):
        assert http.post(path, data={"csrf": token}).status_code == 403, path


def test_a_form_without_its_csrf_token_is_refused(console):
    http = signed_in(console.base, "disp")
    good = csrf(http.get("/console/plan").text)
    for data in ({}, {"csrf": ""}, {"csrf": good[:-1] + ("A" if good[-1] != "A" else "B")}):
        assert http.post("/console/plan", data=data).status_code == 403
        assert http.post("/console/logout", data=data).status_code == 403
    # the sign-in form too: its token must match its cookie
    fresh = httpx.Client(base_url=console.base)
    fresh.get("/")
    r = fresh.post("/console/login", data={"username": "disp", "password": PASSWORDS["disp"]})
    assert r.status_code == 403 and "cr_console" not in r.cookies


def test_cookies_are_http_only_and_same_site_strict(console):
    http = httpx.Client(base_url=console.base)
    page = http.get("/")
    r = http.post("/console/login", data={"csrf": csrf(page.text), "username": "disp",
                                          "password": PASSWORDS["disp"]})
    cookie = r.headers["set-cookie"]
    assert "cr_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    # only the SHA-256 of the cookie's secret is stored
    secret = r.cookies["cr_console"]
    with Store.open(console.store_url) as store, store.reading() as s:
        hashes = [row.sha256 for row in s.query(ConsoleSession)]
        assert secret not in hashes and all(len(h) == 64 for h in hashes)
        assert all(u.password_hash.startswith("$argon2id$") for u in s.query(ConsoleUser))
    # signing out ends the session: the same cookie opens nothing any more
    http.post("/console/logout", data={"csrf": csrf(http.get("/console/day").text)})
    again = httpx.Client(base_url=console.base, cookies={"cr_console": secret})
    assert again.get("/console/day").status_code == 303


def test_sign_in_is_rate_limited(tmp_path, cache_dir):
    with running(tmp_path, cache_dir, login_attempts=3) as c:
        http = httpx.Client(base_url=c.base)
        codes = []
        for _ in range(4):
            page = http.get("/")
            codes.append(http.post("/console/login", data={
                "csrf": csrf(page.text), "username": "disp", "password": "wrong password!"}
            ).status_code)
        assert codes == [401, 401, 401, 429]
        page = http.get("/")
        r = http.post("/console/login", data={"csrf": csrf(page.text), "username": "disp",
                                               "password": PASSWORDS["disp"]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # even the right one


def test_bad_files_show_every_problem_and_plan_nothing(console, tmp_path):
    bad = tmp_path / "cases.csv"
    lines = (ROOT / "data/demo/cases.csv").read_text(encoding="utf-8").splitlines()
    # row 3: a negative amount; row 5: a window that ends before it starts
    lines[2] = lines[2].replace("8215.76", "-5")
    lines[4] = lines[4].replace("10:00-12:00", "12:00-10:00", 1)
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    http = signed_in(console.base, "disp")
    r = upload(http, cases=bad)
    assert r.status_code == 422
    assert 'id="cr-problems"' in r.text and "row 3" not in r.text.split("cr-problems")[0]
    body = r.text.split('id="cr-problems"')[1].split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == 2  # both problems at once, one row each
    assert "amount_overdue" in body and "windows" in body and "C-00004" in body
    assert console.desk.jobs == {} or all(j.state != "running" for j in console.desk.jobs.values())
    assert console.desk.loaded is not None and not console.desk.loaded.ok


def test_a_bad_plan_option_stops_the_upload_before_anything_is_read(console):
    http = signed_in(console.base, "disp")
    before = console.desk.loaded
    r = upload(http, time_limit="-1")
    assert r.status_code == 422 and "time_limit" in r.text and "-1" in r.text
    assert console.desk.loaded is before


def test_an_address_fix_is_saved_and_the_next_import_reuses_it(console, tmp_path):
    http = signed_in(console.base, "disp")
    r = upload(http, check_only="1")
    assert r.status_code == 200 and "nothing planned yet" in r.text
    loaded = console.desk.loaded
    assert loaded.ok and any(a.record == "case_id=C-00061" for a in loaded.addresses)
    token = csrf(http.get("/console/day").text)
    r = http.post("/console/day/address", data={"csrf": token, "case_id": "C-00061",
                                                "address": "融锦城"})
    assert r.status_code == 200 and "Saved the address of C-00061" in r.text
    check = next(a for a in console.desk.loaded.addresses if a.record == "case_id=C-00061")
    assert check.status == "found"
    with Store.open(console.store_url) as store, store.reading() as s:
        fixes = [c for c in s.query(AddressCorrection) if c.case_id == "C-00061"]
        assert [f.address for f in fixes] == ["融锦城"] and fixes[0].actor == "console:disp"
    # tomorrow's export (another amount changed) still shows the old address: the
    # correction applies, the address is no longer listed
    tomorrow = tmp_path / "cases.csv"
    text = (ROOT / "data/demo/cases.csv").read_text(encoding="utf-8")
    tomorrow.write_text(text.replace("7705.95", "7000.00", 1), encoding="utf-8")
    r = upload(http, cases=tomorrow, check_only="1")
    assert r.status_code == 200 and "correction applied to 1 case(s) (C-00061)" in r.text
    assert not any(a.record == "case_id=C-00061" for a in console.desk.loaded.addresses)
    assert next(c for c in console.desk.loaded.cases if c.case_id == "C-00061").address == "融锦城"


def test_users_add_reads_the_password_from_standard_input(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    env_cmd = [sys.executable, "-m", "optimizer", "users", "add"]
    ok = subprocess.run([*env_cmd, "li.wei", "--role", "planner", "--store", url],
                        input="a long enough secret\n", text=True, capture_output=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "li.wei (planner)" in ok.stdout and "secret" not in ok.stdout
    short = subprocess.run([*env_cmd, "x", "--store", url], input="short\n", text=True,
                           capture_output=True, cwd=ROOT)
    assert short.returncode != 0 and "at least 10" in short.stderr
    assert "Traceback" not in short.stderr
    again = subprocess.run([*env_cmd, "li.wei", "--store", url], input="another long one\n",
                           text=True, capture_output=True, cwd=ROOT)
    assert again.returncode != 0 and "already has an account" in again.stderr
    role = subprocess.run([*env_cmd, "y", "--role", "boss", "--store", url], input="x" * 12,
                          text=True, capture_output=True, cwd=ROOT)
    assert role.returncode == 2 and "invalid choice" in role.stderr
    with Store.open(url) as store, store.reading() as s:
        users = [(u.name, u.role) for u in s.query(ConsoleUser)]
    assert users == [("li.wei", "planner")]


def test_a_pin_placed_on_the_map_is_saved_with_the_address(console):
    http = signed_in(console.base, "disp")
    upload(http, check_only="1")
    assert any(a.record == "case_id=C-00085" for a in console.desk.loaded.addresses)
    token = csrf(http.get("/console/day").text)
    bad = http.post("/console/day/address", data={"csrf": token, "case_id": "C-00085",
                                                  "address": "金牛区", "lat": "95", "lon": "104"})
    assert bad.status_code == 422 and "lat" in bad.text and "latitude" in bad.text
    r = http.post("/console/day/address", data={"csrf": token, "case_id": "C-00085",
                                                "address": "成都市金牛区", "lat": "30.69",
                                                "lon": "104.05"})
    assert r.status_code == 200 and "given" in r.text
    with Store.open(console.store_url) as store, store.reading() as s:
        fixes = [(c.address, c.lat, c.lon) for c in s.query(AddressCorrection)
                 if c.case_id == "C-00085"]
    assert fixes == [("成都市金牛区", 30.69, 104.05)]  # the refused pin saved nothing
    case = next(c for c in console.desk.loaded.cases if c.case_id == "C-00085")
    assert (case.lat, case.lon) == (30.69, 104.05)


def test_accepted_row_problems_plan_the_rest_and_list_the_rows_left_out(console, tmp_path):
    import time

    from plancheck import check_plan_outputs

    from optimizer.geo.network import load_network
    from optimizer.store.tables import StoredCase

    http = signed_in(console.base, "disp")
    upload(http, check_only="1")  # the good export first: every case in the store
    bad = tmp_path / "cases.csv"
    lines = (ROOT / "data/demo/cases.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("8215.76", "-5")  # row 3, C-00002
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = upload(http, cases=bad)
    assert r.status_code == 422 and 'id="cr-accept"' in r.text
    r = http.post("/console/day/accept", data={"csrf": csrf(r.text)})
    assert r.status_code == 303, r.text[:1000]
    job = r.headers["location"].rsplit("/", 1)[1]
    while (s := http.get(f"/console/api/jobs/{job}").json())["state"] == "running":
        time.sleep(0.3)
    assert s["state"] == "done", s
    draft = console.desk.draft(s["url"].rsplit("/", 1)[1])
    ids = {c.case_id for c in draft.cases}
    assert "C-00002" not in ids and len(ids) == 499
    st = draft.settings
    assert check_plan_outputs(draft.folder, draft.cases, draft.collectors, st.plan_date,
                              st.policy, network=load_network(st.roads.osm_path,
                                                              cache_dir=st.cache_dir),
                              traffic=st.roads.traffic) == []
    day = http.get("/console/day").text
    assert "Case rows left out" in day and "C-00002" in day.split("Case rows left out")[1]
    with Store.open(console.store_url) as store, store.reading() as s:
        assert s.get(StoredCase, "C-00002").status == "open"  # a partial export closes nothing
    # a problem of the team list cannot be accepted
    team = tmp_path / "collectors.csv"
    rows = (ROOT / "data/demo/collectors.csv").read_text(encoding="utf-8").splitlines()
    rows[1] = rows[1].replace("08:30-17:30", "17:30-08:30")
    team.write_text("\n".join(rows) + "\n", encoding="utf-8")
    r = upload(http, collectors=team)
    assert r.status_code == 422 and 'id="cr-accept"' not in r.text
    assert http.post("/console/day/accept", data={"csrf": csrf(r.text)}).status_code == 409
