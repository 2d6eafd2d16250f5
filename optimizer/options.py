"""Option values: parsers with their ranges, shared by the command line and what-if files.

A parser takes a raw value (the text of a command-line option, or a YAML/TOML value) and returns
the checked value, or raises `Bad` with what is wrong and the fix; the caller adds where the value
came from (``--cooldown-days``, or ``scenario.yaml variant x, key cooldown_days``) and collects
every problem before it reports them at once.

Which option takes which parser (and range) is said once, in `optimizer.settings.OPTIONS`, for
the command line and the what-if files alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from optimizer.errors import ConfigError
from optimizer.io.inputs import parse_time_s, parse_time_window
from optimizer.planning.weigh import Weighting, parse_curve

__all__ = ["MAX_COST", "MAX_VARIANTS", "Bad", "boolean", "choice", "curve", "day", "number",
           "path", "text", "time_range", "time_zone", "traffic", "whole", "clock_time"]

Parser = Callable[[object], Any]  # the checked value (its type depends on the parser)

#: most what-if variants run without asking (``whatif --max-variants``; here, not in the what-if
#: runner, so that building the command line does not load the planning pipeline)
MAX_VARIANTS = 20


class Bad(Exception):
    """A bad value: message and fix (the caller adds where it came from and the value).

    ``value``: the part of the value at fault, when it is not the whole (one item of a list).
    """

    def __init__(self, message: str, fix: str, *, value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.value = value


def is_none(v: object) -> bool:
    """``None``, or a text that says none (``none``, ``null``).

    An empty text is not none: ``--max-work-hours ""`` (a shell variable left unset) must not
    turn a legal limit off.
    """
    return v is None or (isinstance(v, str) and v.strip().lower() in ("none", "null"))


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _range_text(lo: float | None, hi: float | None, *, strict: bool = False) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if strict else '>='} {_show(lo)}")
    if hi is not None:
        parts.append(f"<= {_show(hi)}")
    return " and ".join(parts)


def whole(lo: int | None = None, *, hi: int | None = None, allow_none: bool = False) -> Parser:
    """A whole number in ``lo..hi`` (each bound optional); ``allow_none``: none too."""
    rng = _range_text(lo, hi)
    fix = "give a whole number" + (f" {rng}" if rng else "") + (" or none" if allow_none else "")

    def parse(v: object):
        if allow_none and is_none(v):
            return None
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise Bad("is not a whole number", fix)
        try:
            n = int(v)
        except ValueError:
            raise Bad("is not a whole number", fix) from None
        if lo is not None and n < lo:
            raise Bad(f"must be >= {lo}", fix)
        if hi is not None and n > hi:
            raise Bad(f"must be <= {hi}", fix)
        return n
    return parse


def number(lo: float | None = None, *, strict: bool = False, hi: float | None = None,
           allow_none: bool = False) -> Parser:
    """A finite number in ``lo..hi`` (``strict``: above ``lo``); ``allow_none``: none too."""
    rng = _range_text(lo, hi, strict=strict)
    fix = "give a number" + (f" {rng}" if rng else "") + (" or none" if allow_none else "")

    def parse(v: object):
        if allow_none and is_none(v):
            return None
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise Bad("is not a number", fix)
        try:
            x = float(v)
        except ValueError:
            raise Bad("is not a number", fix) from None
        if not math.isfinite(x):
            raise Bad("is not a finite number", fix)
        if lo is not None and (x <= lo if strict else x < lo):
            raise Bad(f"must be {_range_text(lo, None, strict=strict)}", fix)
        if hi is not None and x > hi:
            raise Bad(f"must be <= {_show(hi)}", fix)
        return x
    return parse


def choice(options: Sequence[str]) -> Parser:
    def parse(v: object):
        if not isinstance(v, str) or v not in options:
            raise Bad("is not one of the choices", f"use one of: {', '.join(options)}")
        return v
    return parse


def text(v: object) -> str:
    if not isinstance(v, str | int | float) or isinstance(v, bool):
        raise Bad("is not text", "give a text value")
    return str(v)


def boolean(v: object) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "yes", "false", "no"):
        return v.lower() in ("true", "yes")
    raise Bad("is not true or false", "write true or false")


def path(v: object) -> Path | None:
    if is_none(v):
        return None
    if not isinstance(v, str | Path):
        raise Bad("is not a file path", "give a path")
    return Path(v)


def traffic(v: object) -> str | Path:
    """``none``, ``default`` (the bundled profile) or the path of a profile CSV; the file is
    read when the settings are built (relative to a scenario file's folder there)."""
    if is_none(v):
        return "none"
    if not isinstance(v, str | Path) or not str(v).strip():
        raise Bad("is not none, default or a file", "give none, default or the path of a "
                  "traffic profile CSV (format: README, 'Traffic')")
    return str(v) if str(v) in ("none", "default") else Path(v)


def day(v: object) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v))
    except ValueError:
        raise Bad("is not a date", "write the date as YYYY-MM-DD, e.g. 2026-11-30") from None


def clock_time(v: object) -> int:
    """``HH:MM`` as seconds since midnight (``24:00`` allowed)."""
    try:
        return parse_time_s(str(v))
    except ValueError as exc:
        raise Bad(str(exc).removeprefix(f"'{v}' "), "write the time of day as HH:MM, e.g. "
                  "13:00") from None


def time_range(*, allow_none: bool = False) -> Parser:
    """``HH:MM-HH:MM`` as a `TimeWindow`."""
    def parse(v: object):
        if allow_none and is_none(v):
            return None
        if not isinstance(v, str):
            raise Bad("is not a time range", "write it as a quoted \"HH:MM-HH:MM\"")
        try:
            return parse_time_window(v)
        except ValueError as exc:
            raise Bad(str(exc), "write it as \"HH:MM-HH:MM\", e.g. \"08:30-17:30\"") from None
    return parse


def curve(v: object):
    """A collectability curve ``'dpd:share,...'`` (checked as `Weighting` checks it)."""
    if not isinstance(v, str):
        raise Bad("is not a curve", "write it as 'dpd:share,...', e.g. '0:0.95,90:0.5,180:0.2'")
    try:
        return Weighting(curve=parse_curve(v)).curve
    except ConfigError as exc:
        raise Bad(str(exc), "write it as 'dpd:share,...' with days increasing and shares in "
                  "0..1, e.g. '0:0.95,90:0.5'") from None


# a cost above this many value units per hour is a typo (and would overflow the solver's integers)
MAX_COST = 1e6


_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2}):?(\d{2})?$", re.I)


def time_zone(v: object) -> tzinfo:
    """A time zone: an IANA name (``Asia/Shanghai``), a UTC offset (``+08:00``), or ``local``
    (this computer's zone)."""
    t = str(v).strip()
    if t.lower() == "local":
        local = datetime.now().astimezone().tzinfo
        assert local is not None  # astimezone() always gives an aware time
        return local
    m = _OFFSET.match(t)
    if m:
        h, mins = int(m.group(2)), int(m.group(3) or 0)
        if h > 14 or mins > 59:
            raise Bad("is not a UTC offset", "give an offset between -14:00 and +14:00")
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=h, minutes=mins))
    try:
        return ZoneInfo(t)
    except (ZoneInfoNotFoundError, ValueError):
        raise Bad("is not a time zone", "give an IANA name such as Asia/Shanghai, an offset "
                  "such as +08:00, or local") from None
