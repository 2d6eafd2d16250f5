from __future__ import annotations

import pytest

from optimizer.errors import ConfigError
from optimizer.model import Case
from optimizer.planning.weigh import Weighting, case_value, collectability, parse_curve


def _case(amount=10_000.0, dpd=30, broken=False):
    return Case(case_id="c", amount_overdue=amount, days_past_due=dpd, promise_broken=broken)


def test_default_curve_follows_rules_of_thumb():
    assert collectability(30) == pytest.approx(0.925)  # between 0:0.95 and 60:0.90
    assert collectability(60) == pytest.approx(0.90)
    assert collectability(90) == pytest.approx(0.50)
    assert collectability(180) == pytest.approx(0.20)
    assert collectability(5000) == pytest.approx(0.03)  # flat past the last point


def test_expected_recovery_is_amount_times_collectability():
    assert case_value(_case(10_000, 90)) == pytest.approx(5_000)
    # a broken promise raises urgency
    assert case_value(_case(10_000, 90, broken=True)) == pytest.approx(6_000)


def test_presets_rank_cases_differently():
    fresh_small, old_big = _case(5_000, 10), _case(20_000, 300)
    er, amt = Weighting("expected_recovery"), Weighting("amount")
    assert case_value(fresh_small, er) > case_value(old_big, er)
    assert case_value(fresh_small, amt) < case_value(old_big, amt)
    assert case_value(old_big, Weighting("count")) == 1.0
    assert case_value(_case(3_000, 60), Weighting("urgency")) == pytest.approx(9_000)


def test_custom_curve_and_errors():
    w = Weighting(curve=parse_curve("0:1, 100:0"))
    assert case_value(_case(1_000, 50), w) == pytest.approx(500)
    with pytest.raises(ConfigError, match="increasing"):
        Weighting(curve=((10, 0.5), (5, 0.4)))
    with pytest.raises(ConfigError, match="0..1"):
        Weighting(curve=((0, 1.5),))
    with pytest.raises(ConfigError, match="not 'dpd:share"):
        parse_curve("zero:one")
    with pytest.raises(ConfigError, match="unknown"):
        Weighting("magic")
