"""Plans in the store: versions per date, the published one, a collector's own route."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from storehelp import at, case, tiny_plan

from optimizer.errors import InputError
from optimizer.store.cases import merge_cases
from optimizer.store.errors import NotOnRoute
from optimizer.store.plans import (
    publish_plan,
    published_plan,
    published_route,
    published_stop,
    record_plan,
)
from optimizer.store.tables import AuditEntry, PlanRecord, PlanUnassigned

DAY = date(2026, 12, 1)
CASES = [case(f"A{i}") for i in range(1, 6)]


@pytest.fixture
def cases(store):
    with store.session() as s:
        merge_cases(s, CASES, file_name="c.csv", sha256="c" * 64,
                    imported_at=at("2026-11-30 08:00"))
    return store


def day_plan(first: list, second: list):
    return tiny_plan(DAY, {"C01+C02": (("C01", "C02"), first), "C03+C04": (("C03", "C04"),
                                                                          second)},
                     unassigned=((CASES[4], "lower_value", "worth less than the others"),))


def test_a_plan_is_recorded_published_and_a_collector_sees_only_their_route(cases):
    with cases.session() as s:
        rec = record_plan(s, day_plan(CASES[:2], CASES[2:4]), actor="plan",
                          at=at("2026-11-30 20:00"))
    assert (rec.plan_date, rec.version, rec.published_at) == (DAY, 1, at("2026-11-30 20:00"))
    with cases.reading() as s:
        for member in ("C01", "C02"):
            route = published_route(s, member, DAY)
            assert route is not None and route.route_id == "C01+C02"
            assert route.members == ("C01", "C02")
            assert [(st.stop, st.case_id, st.start_s) for st in route.stops] == [
                (1, "A1", 9 * 3600), (2, "A2", 10 * 3600)]
        assert published_route(s, "C09", DAY) is None
        assert published_route(s, "C01", date(2026, 12, 2)) is None
        assert published_stop(s, "C03", DAY, "A3").route_id == "C03+C04"
        with pytest.raises(NotOnRoute, match="case A3 is not a stop of collector C01's"):
            published_stop(s, "C01", DAY, "A3")  # the other team's stop
        with pytest.raises(NotOnRoute):
            published_stop(s, "C01", DAY, "A5")  # not visited at all
        (u,) = s.scalars(select(PlanUnassigned)).all()
        assert (u.case_id, u.reason_code) == ("A5", "lower_value")
        rec_row = s.get(PlanRecord, rec.plan_id)
        assert rec_row.settings["policy"] == "china"
        assert (rec_row.cases_total, rec_row.cases_visited) == (5, 4)
        assert [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))][-2:] \
            == ["plan.recorded", "plan.published"]


def test_a_new_version_supersedes_the_published_one(cases):
    with cases.session() as s:
        v1 = record_plan(s, day_plan(CASES[:2], CASES[2:4]), actor="plan")
        v2 = record_plan(s, day_plan([CASES[2]], [CASES[0], CASES[1], CASES[3]]), actor="plan")
    assert (v1.version, v2.version) == (1, 2)
    with cases.reading() as s:
        assert published_plan(s, DAY).id == v2.plan_id
        assert s.get(PlanRecord, v1.plan_id).superseded_by_id == v2.plan_id
        assert [st.case_id for st in published_route(s, "C02", DAY).stops] == ["A3"]
        with pytest.raises(NotOnRoute):
            published_stop(s, "C01", DAY, "A1")  # A1 went to the other team in version 2


def test_a_draft_is_not_in_force_until_published(cases):
    with cases.session() as s:
        v1 = record_plan(s, day_plan(CASES[:2], CASES[2:4]), actor="plan")
        draft = record_plan(s, day_plan([CASES[2]], [CASES[0]]), actor="whatif", publish=False)
        assert draft.published_at is None
        assert published_plan(s, DAY).id == v1.plan_id
        publish_plan(s, draft.plan_id, actor="dispatcher")
        assert published_plan(s, DAY).id == draft.plan_id


def test_a_plan_with_cases_the_store_does_not_hold_is_refused(cases):
    with pytest.raises(InputError) as exc, cases.session() as s:
        record_plan(s, day_plan([case("X1")], [case("X2")]), actor="plan")
    assert [p.value for p in exc.value.problems] == ["X1", "X2"]
    with cases.reading() as s:
        assert s.scalars(select(PlanRecord)).all() == []
