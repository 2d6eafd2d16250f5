"""The visit pack: one printable page per visit, in the order of the route, for the conversation
at the door.

A page holds the overdue notice addressed to the customer (amount, days past due, the contract
reference, how to pay, the legal statement, the lender's contact), the repayment record (from
the case store: payments, promises, earlier visits) and the options the lender offers
(instalments, deferral). `render_packs` writes one print-ready HTML file per route
(``pack-<route>.html``; the browser's print dialog makes the PDF), each visit on its own page.

The template is the lender's (`load_template`; the shipped default, ``assets/visit_pack.html``,
is in Chinese and English) and the lender's details a small TOML file (`load_lender`). Case
text goes in only as data: the template is compiled once, from the lender's file, in Jinja's
sandbox with autoescaping, and every page is rendered from the data of its own visit only, so a
page never shows another customer's data and text such as ``{{ 7*7 }}`` or ``<script>`` in a
case list is printed as it is.
"""

from __future__ import annotations

import html
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from optimizer.errors import ConfigError
from optimizer.model import Plan, PlannedRoute, PlannedStop, hhmm

DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "assets" / "visit_pack.html"

#: the lender's details a template may use, with the shipped defaults
LENDER_KEYS = ("name", "phone", "how_to_pay", "legal_statement", "options")


@dataclass(frozen=True)
class Lender:
    """Who sends the notice, how to pay, the legal statement, the options offered."""

    name: str = "贷款机构 / The lender"
    phone: str = "客服电话见合同 / see your contract for the service number"
    how_to_pay: str = ("通过贷款机构的官方应用或对公账户还款，请勿向个人转账。 / Pay through the "
                       "lender's official app or company account only, never to a person.")
    legal_statement: str = (
        "根据《中华人民共和国民法典》第六百七十六条，借款人未按照约定的期限返还借款的，应当按照约定"
        "或者国家有关规定支付逾期利息。 / Under Article 676 of the Civil Code of the People's "
        "Republic of China, a borrower who does not repay on time pays overdue interest as "
        "agreed or as the State provides.")
    options: tuple[str, ...] = (
        "分期还款 / Instalments: the overdue amount in monthly parts",
        "延期还款 / Deferral: a later date for the whole amount, agreed in writing")


@dataclass(frozen=True)
class RecordLine:
    """One line of a case's repayment record: what happened on a day (an amount if any)."""

    day: date
    what: str
    amount: float | None = None


@dataclass(frozen=True)
class PackSettings:
    """The template (its text and where it came from) and the lender's details."""

    template: str
    template_name: str
    lender: Lender = field(default_factory=Lender)


def load_template(path: str | Path | None = None) -> tuple[str, str]:
    """The text of a lender's template (default: the shipped one) and its file name."""
    p = Path(path) if path is not None else DEFAULT_TEMPLATE
    try:
        return p.read_text(encoding="utf-8"), p.name
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"visit pack template {p}: cannot be read ({exc}); fix: give a UTF-8 "
                          "HTML template (start from optimizer/outputs/assets/visit_pack.html)"
                          ) from None


def load_lender(path: str | Path | None = None) -> Lender:
    """The lender's details from a TOML file (keys `LENDER_KEYS`; each missing one keeps the
    default), or the defaults."""
    if path is None:
        return Lender()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"lender file {p}: cannot be read ({exc}); fix: give a UTF-8 TOML "
                          f"file with the keys {', '.join(LENDER_KEYS)}") from None
    problems = [f"unknown key {k!r}" for k in data if k not in LENDER_KEYS]
    for k, v in data.items():
        if k == "options":
            if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                problems.append("'options' is not a list of texts")
        elif k in LENDER_KEYS and not isinstance(v, str):
            problems.append(f"{k!r} is not a text")
    if problems:
        raise ConfigError(f"lender file {p}: {'; '.join(problems)}; fix: use the keys "
                          f"{', '.join(LENDER_KEYS)} (texts; options a list of texts)")
    values: dict[str, Any] = dict(data)
    if "options" in values:
        values["options"] = tuple(values["options"])
    return Lender(**values)


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
    env.filters["money"] = lambda x: "" if x is None else (
        f"{x:,.0f}" if abs(x - round(x)) < 0.005 else f"{x:,.2f}")
    return env


def _page_data(route: PlannedRoute, stop: PlannedStop, plan_date: date, n_stops: int,
               records: Sequence[RecordLine], lender: Lender) -> dict[str, Any]:
    """Everything one page may show: its own visit's data, nothing of another case."""
    c = stop.case
    return {
        "lender": {k: getattr(lender, k) for k in LENDER_KEYS},
        "plan_date": plan_date.isoformat(),
        "route": {"id": route.collector.collector_id,
                  "name": route.collector.name or route.collector.collector_id,
                  "members": list(route.members or (route.collector.collector_id,))},
        "visit": {"stop": stop.stop, "of": n_stops, "start": hhmm(stop.start_s),
                  "window": stop.window.label()},
        "case": {"case_id": c.case_id, "customer_name": c.customer_name, "phone": c.phone,
                 "address": c.address, "district": c.district,
                 "amount_overdue": c.amount_overdue, "days_past_due": c.days_past_due,
                 "promise_date": c.promise_date.isoformat() if c.promise_date else "",
                 "promise_broken": c.promise_broken},
        "records": [{"day": r.day.isoformat(), "what": r.what, "amount": r.amount}
                    for r in records],
    }


_SHELL = ("<!doctype html>\n<html lang=\"zh\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>{title}</title>\n<style>\n@page {{ size: A4; margin: 16mm; }}\n"
          ".visit {{ break-after: page; page-break-after: always; }}\n"
          ".visit:last-child {{ break-after: auto; page-break-after: auto; }}\n"
          "</style>\n</head>\n<body>\n{pages}\n</body>\n</html>\n")


def render_packs(plan: Plan, settings: PackSettings, *,
                 records: Mapping[str, Sequence[RecordLine]] | None = None) -> dict[str, str]:
    """One HTML document per route with stops, ``pack-<route id>.html`` -> its text.

    Raises
    ------
    ConfigError
        The template does not compile, or uses a name it is not given or something the
        sandbox refuses (the message names the template and the line).
    """
    env = _environment()
    try:
        template = env.from_string(settings.template)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"visit pack template {settings.template_name} line {exc.lineno}: "
                          f"{exc.message}; fix: correct the template (Jinja syntax)") from None
    out: dict[str, str] = {}
    for route in plan.routes:
        if not route.stops:
            continue
        pages = []
        for stop in route.stops:
            data = _page_data(route, stop, plan.plan_date, len(route.stops),
                              (records or {}).get(stop.case.case_id, ()), settings.lender)
            try:
                body = template.render(**data)
            except TemplateError as exc:
                raise ConfigError(f"visit pack template {settings.template_name}: {exc}; fix: "
                                  "use only the names the default template uses (lender, "
                                  "plan_date, route, visit, case, records)") from None
            pages.append(f'<section class="visit">\n{body}\n</section>')
        rid = route.collector.collector_id
        title = html.escape(f"Visit pack {rid} · {plan.plan_date.isoformat()}")
        out[f"pack-{_file_part(rid)}.html"] = _SHELL.format(title=title, pages="\n".join(pages))
    return out


def _file_part(route_id: str) -> str:
    """A route id as part of a file name (crew ids join members with '+')."""
    return "".join(ch if ch.isalnum() or ch in "+-_" else "_" for ch in route_id)
