"""The visit pack (`optimizer.outputs.pack`): one page per visit in route order, each with its
own customer's data only; case text printed as text; the lender's template sandboxed."""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

import pytest

from optimizer.errors import ConfigError
from optimizer.outputs import pack

sys.path.insert(0, str(Path(__file__).parent / "store"))
from storehelp import case, tiny_plan  # noqa: E402

DAY = date(2026, 12, 7)


def _pages(text: str) -> list[str]:
    return text.split('<section class="visit">')[1:]


def _plan():
    a = case("A-1", amount=5000.0, customer_name="张伟", phone="138-****-0001")
    b = case("B-2", amount=1999.5, customer_name="李娜", phone="139-****-0002")
    c = case("C-3", amount=700.0, customer_name="王芳", phone="137-****-0003")
    return tiny_plan(DAY, {"R1": (("K01", "K02"), [a, b]), "R2": (("K03",), [c])})


def test_one_page_per_visit_in_route_order_with_only_its_own_customer():
    settings = pack.PackSettings(*pack.load_template())
    records = {"B-2": (pack.RecordLine(date(2026, 12, 1), "承诺还款 / promise to pay", 1000.0),)}
    packs = pack.render_packs(_plan(), settings, records=records)
    assert sorted(packs) == ["pack-R1.html", "pack-R2.html"]
    first, second = _pages(packs["pack-R1.html"])
    assert "张伟" in first and "A-1" in first and "138-****-0001" in first and "5,000" in first
    assert "第 1/2 站" in first
    for other in ("李娜", "B-2", "139-****-0002", "王芳", "C-3", "2026-12-01"):
        assert other not in first, other
    assert "李娜" in second and "1,999.50" in second and "第 2/2 站" in second
    assert "2026-12-01" in second and "1,000" in second  # B's record, on B's page only
    assert "张伟" not in second and "王芳" not in second
    assert "暂无记录" in first and "暂无记录" not in second
    (only,) = _pages(packs["pack-R2.html"])
    assert "王芳" in only and "张伟" not in only and "李娜" not in only
    assert "民法典" in only and "分期还款" in only  # the legal statement and the options


def test_case_text_is_printed_as_text_never_run():
    evil = case("E-1", customer_name="{{ 7*7 }}<script>alert(1)</script>",
                address="{% for x in range(3) %}x{% endfor %}")
    packs = pack.render_packs(tiny_plan(DAY, {"R1": (("K01",), [evil])}),
                              pack.PackSettings(*pack.load_template()))
    (page,) = _pages(packs["pack-R1.html"])
    assert "{{ 7*7 }}" in page and "49" not in re.sub(r"\d{2}:\d{2}|\d{4}-\d{2}-\d{2}", "", page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "{% for x in range(3) %}x{% endfor %}" in page and "xxx" not in page


def test_the_lenders_template_runs_in_the_sandbox():
    plan = tiny_plan(DAY, {"R1": (("K01",), [case("A-1")])})
    own = pack.PackSettings("<p>{{ case.case_id }} · {{ lender.name }}</p>", "mine.html",
                            pack.Lender(name="成都示例小贷"))
    (page,) = _pages(pack.render_packs(plan, own)["pack-R1.html"])
    assert "<p>A-1 · 成都示例小贷</p>" in page
    for text, says in (("{{ case.__class__.__mro__ }}", "mine.html"),
                       ("{{ nothing_given }}", "nothing_given"),
                       ("{% for %}", "mine.html line 1")):
        with pytest.raises(ConfigError, match=re.escape(says)):
            pack.render_packs(plan, pack.PackSettings(text, "mine.html"))


def test_the_lender_file_is_checked(tmp_path):
    good = tmp_path / "lender.toml"
    good.write_text('name = "成都示例小贷"\nphone = "028-0000-0000"\noptions = ["分期 6 期"]\n',
                    encoding="utf-8")
    lender = pack.load_lender(good)
    assert (lender.name, lender.options) == ("成都示例小贷", ("分期 6 期",))
    assert lender.legal_statement == pack.Lender().legal_statement  # not given: the default
    bad = tmp_path / "bad.toml"
    bad.write_text('nmae = "x"\noptions = "one"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'nmae'.*'options' is not a list"):
        pack.load_lender(bad)


def test_the_command_line_asks_for_visit_pack_with_its_files(tmp_path, capsys):
    from optimizer.cli import main

    lender = tmp_path / "lender.toml"
    lender.write_text('name = "x"\n', encoding="utf-8")
    rc = main(["plan", "--lender", str(lender), "--pack-template", str(tmp_path / "none.html"),
               "--out", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "--pack-template value" in err and "no such file" in err
    assert "is used only with --visit-pack" in err
