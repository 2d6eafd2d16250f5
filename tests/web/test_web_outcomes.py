"""The web application over real HTTP: who may record what, every answer's status and body, on
SQLite and PostgreSQL. The test plan (tests/maps_plan.py, 2026-11-30): C01 visits K-1001..1003,
C02 K-2001..2004, C03 has an empty route; K-9001..9003 are left out."""

from __future__ import annotations

import json
import select as io_select
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from webhelp import call

from optimizer.store import apikeys
from optimizer.store.db import Store
from optimizer.store.tables import AuditEntry, OutcomeRecord, PaymentRecord, PromiseRecord
from optimizer.web.collector import CONFIG_ID

VISIT = "2026-11-30T10:05:00+08:00"


def body(key: str, case_id: str, outcome: str = "not_home", **fields: object) -> dict:
    return {"key": key, "case_id": case_id, "outcome": outcome, "event_time": VISIT, **fields}


def stored(web) -> list[OutcomeRecord]:
    with Store.open(web.store_url) as store, store.reading() as s:
        rows = list(s.scalars(select(OutcomeRecord).order_by(OutcomeRecord.id)))
        s.expunge_all()  # plain objects after the read transaction ends
        return rows


def count(web, table) -> int:
    with Store.open(web.store_url) as store, store.reading() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def config_of(page: str) -> dict:
    start = page.index(f'id="{CONFIG_ID}">') + len(f'id="{CONFIG_ID}">')
    return json.loads(page[start:page.index("</script>", start)])


# --------------------------------------------------------------------------- the page


def test_collector_page_carries_the_form_for_its_own_stops_only(web):
    for cid in ("C01", "C02"):
        a = call("GET", web.link(cid))
        assert a.status == 200
        cfg = config_of(a.body.decode("utf-8"))
        assert cfg["stops"] == web.stops(cid)
        assert cfg["collector"] == cid and cfg["members"] == [cid]
        assert cfg["api"] == "/" + web.link(cid).split("/")[3] + "/api/outcomes"
        assert {c["code"] for c in cfg["codes"]} >= {"paid", "promise_to_pay", "not_home",
                                                     "no_attempt", "instalment_agreed"}
        csp = a.headers["content-security-policy"]
        assert "connect-src 'self'" in csp and "'unsafe-inline'" not in csp.split(
            "script-src")[1].split(";")[0]
        assert 'src="assets/cr-outcomes.js"' in a.body.decode("utf-8")
    # the form's own script is served beside the map assets, under a token and shared
    token = web.link("C01").split("/")[3]
    for url in (f"{web.base}/{token}/assets/cr-outcomes.js", f"{web.base}/assets/cr-outcomes.js"):
        a = call("GET", url)
        assert a.status == 200 and a.headers["content-type"].startswith("text/javascript")
        assert b"innerHTML" not in a.body  # input text is only ever set as text
    overview = call("GET", web.server.links.overview)
    assert overview.status == 200 and CONFIG_ID not in overview.body.decode("utf-8")
    # the page's service worker: under the collector's token only
    a = call("GET", f"{web.base}/{token}/cr-sw.js")
    assert a.status == 200 and a.headers["content-type"].startswith("text/javascript")
    assert "/api/" in a.body.decode("utf-8")  # the outcome API is never cached
    overview_token = web.server.links.overview.split("/")[3]
    assert call("GET", f"{web.base}/{overview_token}/cr-sw.js").status == 404


# --------------------------------------------------------------------------- recording


def test_an_outcome_is_recorded_once_and_a_retry_gets_the_same_record(web):
    first = call("POST", web.outcomes_url("C01"), body("ph-1", "K-1001", "promise_to_pay",
                                                       amount=2000, promise_date="2026-12-05"))
    assert first.status == 201, first.body
    got = first.json()
    assert got["created"] is True and got["case_id"] == "K-1001" and got["label"] == "承诺还款"
    again = call("POST", web.outcomes_url("C01"), body("ph-1", "K-1001", "promise_to_pay",
                                                       amount=2000, promise_date="2026-12-05"))
    assert again.status == 200 and again.json()["created"] is False
    assert again.json()["outcome_id"] == got["outcome_id"]
    rows = stored(web)
    assert [(r.idempotency_key, r.source, r.actor) for r in rows] == [
        ("ph-1", "phone", "collector:C01")]
    assert rows[0].plan_id is not None and rows[0].plan_stop_id is not None
    assert count(web, PromiseRecord) == 1
    # the phone reads back what is recorded for its stops
    listed = call("GET", web.outcomes_url("C01")).json()
    assert [(o["key"], o["collectors"], o["amount"]) for o in listed["outcomes"]] == [
        ("ph-1", ["C01"], 2000.0)]


def test_same_key_with_another_body_is_409_naming_the_fields(web):
    assert call("POST", web.outcomes_url("C01"), body("ph-2", "K-1002")).status == 201
    a = call("POST", web.outcomes_url("C01"), body("ph-2", "K-1002", "refused"))
    assert a.status == 409
    assert a.json()["error"] == "conflict"
    assert [p["field"] for p in a.json()["problems"]] == ["outcome"]
    assert len(stored(web)) == 1


def test_another_collectors_stops_are_refused_and_change_nothing(web):
    audit_before = count(web, AuditEntry)
    for cid, case_id in (("C01", "K-2001"), ("C02", "K-1001"), ("C03", "K-1001"),
                         ("C01", "K-9001"), ("C01", "NO-SUCH-CASE")):
        a = call("POST", web.outcomes_url(cid), body(f"x-{cid}-{case_id}", case_id, "paid",
                                                     amount=100))
        assert a.status == 403, (cid, case_id, a.body)
        assert a.json()["error"] == "not_on_route"
    # a day the collector has no route: the visit's day decides, not the page's
    a = call("POST", web.outcomes_url("C01"), {**body("x-day", "K-1001"),
                                                "event_time": "2026-11-29T10:00:00+08:00"})
    assert a.status == 403
    assert stored(web) == [] and count(web, PaymentRecord) == 0
    assert count(web, AuditEntry) == audit_before
    # C02's outcome is not in C01's list, and the other way round
    assert call("POST", web.outcomes_url("C02"), body("c2-1", "K-2001")).status == 201
    assert call("GET", web.outcomes_url("C01")).json()["outcomes"] == []
    assert [o["case_id"] for o in call("GET", web.outcomes_url("C02")).json()["outcomes"]] == [
        "K-2001"]
    # the key of C02's outcome sent by C01 for C02's case records nothing either
    assert call("POST", web.outcomes_url("C01"), body("c2-1", "K-2001")).status == 403
    assert len(stored(web)) == 1


def test_collectors_present_must_be_route_members(web):
    a = call("POST", web.outcomes_url("C01"), body("ph-c", "K-1001", collectors=["C01", "C02"]))
    assert a.status == 422
    assert [p["field"] for p in a.json()["problems"]] == ["collectors"]
    a = call("POST", web.outcomes_url("C01"), body("ph-c", "K-1001", collectors=["C02"]))
    assert a.status == 422 and "C02 is not on the route" in a.json()["problems"][0]["message"]
    assert stored(web) == []


def test_tokens_that_open_no_collector_page_are_an_empty_404(web):
    token = web.link("C01").split("/")[3]
    overview = web.server.links.overview.split("/")[3]
    for bad in (token[:-1], token + "x", overview, "api", "assets"):
        a = call("POST", f"{web.base}/{bad}/api/outcomes", body("z", "K-1001"))
        assert (a.status, a.body) == (404, b""), bad
        assert call("GET", f"{web.base}/{bad}/api/outcomes").status == 404
    for method in ("PUT", "DELETE", "PATCH"):
        a = call(method, web.outcomes_url("C01"), body("z", "K-1001"))
        assert (a.status, a.body) == (404, b"")
    assert stored(web) == []


# --------------------------------------------------------------------------- bad bodies


@pytest.mark.parametrize(("fields", "named"), [
    ({"outcome": "paid"}, ["amount"]),
    ({"outcome": "promise_to_pay", "amount": 500}, ["promise_date"]),
    ({"outcome": "promise_to_pay", "amount": 500, "promise_date": "2026-02-30"},
     ["promise_date"]),
    ({"outcome": "promise_to_pay", "amount": -5, "promise_date": "2026-11-20"},
     ["amount", "promise_date"]),
    ({"outcome": "gone_fishing"}, ["outcome"]),
    ({"outcome": "not_home", "amount": 5}, ["amount"]),
    ({"colour": "red"}, ["colour"]),
    ({"event_time": "yesterday"}, ["event_time"]),
    ({"case_id": ""}, ["case_id"]),
    ({"source": "api"}, ["source"]),
    ({"plan_id": 1}, ["plan_id"]),
    ({"device_lat": 30.6}, ["device_lon"]),
])
def test_bad_bodies_are_422_naming_every_field(web, fields, named):
    a = call("POST", web.outcomes_url("C01"), {**body("bad", "K-1001"), **fields})
    assert a.status == 422, a.body
    got = a.json()
    assert got["error"] == "invalid"
    assert sorted(p["field"] for p in got["problems"]) == sorted(named)
    assert all(p["fix"] for p in got["problems"])
    assert stored(web) == []


def test_future_times_not_json_and_wrong_types(web):
    future = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    a = call("POST", web.outcomes_url("C01"), {**body("f", "K-1001"), "event_time": future})
    assert a.status == 422 and a.json()["problems"][0]["field"] == "event_time"
    a = call("POST", web.outcomes_url("C01"), raw=b"{not json",
             headers={"Content-Type": "application/json"})
    assert a.status == 422 and a.json()["problems"][0]["field"] == "(body)"
    a = call("POST", web.outcomes_url("C01"), raw=b"[1, 2]",
             headers={"Content-Type": "application/json"})
    assert a.status == 422
    a = call("POST", web.outcomes_url("C01"), raw=b"key=1", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert a.status == 415 and a.json()["error"] == "unsupported_media_type"
    assert stored(web) == []


def test_bodies_over_the_limit_are_413_with_and_without_a_length(web):
    huge = {**body("big", "K-1001"), "note": "x" * 40_000}
    a = call("POST", web.outcomes_url("C01"), huge)
    assert a.status == 413 and a.json()["error"] == "too_large"
    # chunked, no Content-Length: counted as it streams in
    host, port = web.base.split("//")[1].split(":")
    path = "/" + web.outcomes_url("C01").split("/", 3)[3]
    data = json.dumps(huge).encode()
    answer = b""
    # the server may answer 413 and close while chunks are still being sent; the client then
    # stops sending and reads (a reset can cost the answer itself: that exchange is tried again)
    for _ in range(3):
        answer = _chunked_post(host, int(port), path, data)
        if answer:
            break
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert stored(web) == []


def _chunked_post(host: str, port: int, path: str, data: bytes) -> bytes:
    """POST `data` in 4 KiB chunks without a Content-Length; the answer (b"" if the connection
    was reset before any of it arrived). Sending stops as soon as the server has answered."""
    answer = b""
    with socket.create_connection((host, port), timeout=10) as sock:
        try:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                         .encode())
            for k in range(0, len(data), 4096):
                if io_select.select([sock], [], [], 0)[0]:
                    break  # answered before the whole body was sent
                part = data[k:k + 4096]
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed early: its answer may be waiting
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def test_every_answer_has_the_security_headers(web):
    for a in (call("GET", web.link("C01")), call("GET", web.base + "/nope"),
              call("POST", web.outcomes_url("C01"), body("h", "K-1001", "paid")),
              call("GET", web.base + "/api/v1/outcomes")):
        assert a.headers["x-content-type-options"] == "nosniff"
        assert a.headers["referrer-policy"] == "no-referrer"
        assert a.headers["cache-control"] == "no-store"
        assert "content-security-policy" in a.headers
        assert "server" not in a.headers


# --------------------------------------------------------------------------- the lender's API


def test_lender_api_needs_a_valid_key(web):
    url = web.base + "/api/v1/outcomes"
    for headers in ({}, {"Authorization": "Bearer crk_000000000000_" + "a" * 43},
                    {"Authorization": web.api_key}, {"Authorization": "Basic " + web.api_key}):
        a = call("GET", url, headers=headers)
        assert a.status == 401 and a.headers["www-authenticate"] == "Bearer"
        a = call("POST", url, body("api-1", "K-9001", collectors="C01"), headers=headers)
        assert a.status == 401
    assert call("GET", url, headers=web.auth).status == 200
    with Store.open(web.store_url) as store, store.session() as s:
        apikeys.revoke_key(s, "loan-system", actor="test")
    assert call("GET", url, headers=web.auth).status == 401
    assert stored(web) == []


def test_lender_api_records_reads_outcomes_and_plans(web):
    url = web.base + "/api/v1/outcomes"
    a = call("POST", url, body("api-1", "K-9001", "paid", amount=5000, collectors="C01+C02"),
             headers=web.auth)
    assert a.status == 201, a.body
    assert call("POST", url, body("api-1", "K-9001", "paid", amount=5000,
                                  collectors="C01+C02"), headers=web.auth).status == 200
    a = call("POST", url, body("api-1", "K-9001", "paid", amount=4000, collectors="C01+C02"),
             headers=web.auth)
    assert a.status == 409 and [p["field"] for p in a.json()["problems"]] == ["amount"]
    a = call("POST", url, body("api-2", "K-9001", "paid", collectors="C01"), headers=web.auth)
    assert a.status == 422 and [p["field"] for p in a.json()["problems"]] == ["amount"]
    rows = stored(web)
    assert [(r.source, r.actor) for r in rows] == [("api", "api:loan-system")]
    for k in range(3):
        assert call("POST", url, body(f"api-n{k}", "K-9002", collectors="C03"),
                    headers=web.auth).status == 201
    first = call("GET", url + "?limit=2", headers=web.auth).json()
    assert [o["idempotency_key"] for o in first["outcomes"]] == ["api-1", "api-n0"]
    rest = call("GET", f"{url}?after_id={first['next_after_id']}", headers=web.auth).json()
    assert [o["idempotency_key"] for o in rest["outcomes"]] == ["api-n1", "api-n2"]
    assert rest["next_after_id"] is None
    a = call("GET", url + "?after_id=-1", headers=web.auth)
    assert a.status == 422 and a.json()["problems"][0]["field"] == "after_id"
    plan = call("GET", web.base + "/api/v1/plans/2026-11-30", headers=web.auth).json()
    assert {r["route_id"]: [s["case_id"] for s in r["stops"]] for r in plan["routes"]} == {
        "C01": web.stops("C01"), "C02": web.stops("C02"), "C03": []}
    assert {u["case_id"] for u in plan["unassigned"]} == {"K-9001", "K-9002", "K-9003"}
    assert call("GET", web.base + "/api/v1/plans/2026-12-01", headers=web.auth).status == 404
    a = call("GET", web.base + "/api/v1/plans/2026-13-01", headers=web.auth)
    assert a.status == 422 and a.json()["problems"][0]["field"] == "plan_date"


def test_lender_api_case_list(web):
    url = web.base + "/api/v1/cases"
    cases = [{"case_id": "N-1", "amount_overdue": 1000, "days_past_due": 30, "lat": 30.6,
              "lon": 104.0, "address": "成华区建设路1号"},
             {"case_id": "N-2", "amount_overdue": "lots", "days_past_due": 30, "lat": 30.6,
              "lon": 104.0}]
    a = call("POST", url, {"cases": cases, "close_missing": False}, headers=web.auth)
    assert a.status == 422
    assert [(p["row"], p["field"]) for p in a.json()["problems"]] == [(2, "amount_overdue")]
    a = call("POST", url, {"cases": cases[:1], "close_missing": False}, headers=web.auth)
    assert a.status == 200, a.body
    assert a.json()["added"] == ["N-1"] and a.json()["closed"] == []
    again = call("POST", url, {"cases": cases[:1], "close_missing": False}, headers=web.auth)
    assert again.json()["import_id"] is None and again.json()["repeat_of"] is not None
    a = call("POST", url, {"cases": cases[:1], "extra": 1}, headers=web.auth)
    assert a.status == 422 and a.json()["problems"][0]["field"] == "extra"


def test_openapi_schema_documents_the_bodies(web):
    a = call("GET", web.base + "/api/v1/openapi.json")
    assert a.status == 200
    schema = a.json()
    assert {"/api/v1/outcomes", "/api/v1/cases", "/api/v1/plans/{plan_date}"} <= set(
        schema["paths"])
    assert "OutcomeIn" in schema["components"]["schemas"]
    assert not any(p.startswith("/{token}") for p in schema["paths"])
    assert call("GET", web.base + "/docs").status == 404  # Swagger UI would load a CDN
