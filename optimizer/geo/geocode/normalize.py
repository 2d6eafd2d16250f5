"""Address text to matching keys: pure functions of strings, shared by the index and the matcher.

Names and queries are normalised the same way (`normalize`): NFKC (full-width digits and letters
become half-width), case-folded, pinyin tone marks removed, Latin road words mapped to pinyin
(``Road``/``Rd`` -> ``lu``, ``Street``/``St`` -> ``jie``, ``Lane``/``Alley`` -> ``xiang``,
``Avenue`` -> ``dadao``, ``North``/``South``/``East``/``West``/``Middle`` -> ``bei``/``nan``/
``dong``/``xi``/``zhong``, ``Section 2`` -> ``erduan``), Arabic section numbers in Chinese
(``2段`` -> ``二段``), then everything but letters, digits and CJK characters removed.
A parenthesised qualifier in a name ("Lazy Bones (Tianfu Square)") is not a name of its own
(`split_name`).

Two steps, because the matcher needs the middle one: `prepare` (the text with spaces between
words, where house numbers and unit details are still found) and `to_key` (the key itself).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NOT_KEY = re.compile(rf"[^0-9a-z{_CJK}]+")
_CJK_RUN = re.compile(rf"[{_CJK}][{_CJK}0-9]*")
_HAS_CJK = re.compile(rf"[{_CJK}]")
_CN_DIGITS = "零一二三四五六七八九"
_PY_DIGITS = ("ling", "yi", "er", "san", "si", "wu", "liu", "qi", "ba", "jiu")

_LATIN_WORDS = {
    "road": "lu", "rd": "lu", "lu": "lu",
    "street": "jie", "st": "jie", "str": "jie", "jie": "jie",
    "lane": "xiang", "ln": "xiang", "alley": "xiang", "alleys": "xiang", "xiang": "xiang",
    "avenue": "dadao", "ave": "dadao", "av": "dadao", "boulevard": "dadao", "blvd": "dadao",
    "north": "bei", "south": "nan", "east": "dong", "west": "xi",
    "middle": "zhong", "central": "zhong", "center": "zhong", "centre": "zhong",
}  # fmt: skip
_ROAD_TYPES = {"lu", "jie", "xiang", "dadao"}
_DIRECTIONS = {"bei", "nan", "dong", "xi", "zhong"}

# building / unit / floor / room details, cut before matching
_CJK_UNIT = re.compile(
    r"(?:\d+|[一二三四五六七八九十]+)\s*(?:栋|幢|座|号楼|单元|楼|层|室|号房|户)"
    r"|[a-z]\s*(?:栋|座|区)\s*\d"
)
_LATIN_UNIT = re.compile(
    r"\b(?:room|rm|apt|apartment|flat|unit|bldg|building|blk|block|tower|floor|fl|suite|ste)"
    r"\s*[.#:]?\s*[0-9a-z]{0,1}\d*[a-z]?\b|#\s*\d+|\b\d+(?:st|nd|rd|th)?\s*(?:floor|fl)\b|\b\d+f\b"
)
#: a leading or trailing postcode (5 or 6 digits)
POSTCODE = re.compile(r"^\s*\d{5,6}(?!\d)|(?<!\d)\d{5,6}\s*$")
_SECTION_CJK = re.compile(r"(\d)\s*段")
_SECTION_LATIN = re.compile(r"\b(?:sec(?:tion)?\.?\s*(\d)|(\d)(?:st|nd|rd|th)?\s*sec(?:tion)?)\b")
_HOUSE_CJK = re.compile(r"(\d+)\s*号(?!楼|院|线)")
# a number written straight after a street name without 号 ("横桥街 10", "红星路三段103")
_HOUSE_CJK_BARE = re.compile(r"(?<=[路街巷道段弄])\s*(\d+)\s*$")
_HOUSE_LATIN_NO = re.compile(r"\bno\.?\s*(\d+)\b")
_HOUSE_LATIN_LEAD = re.compile(r"^\s*(\d+)\s+(?=[a-z])")
# "plock 31", and ranges or letters as German and Dutch addresses write them: "31-41", "30a",
# "30a-g", "14 - 18" (after `prepare` the dash is a space); the first number is the house
_HOUSE_LATIN_TRAIL = re.compile(
    r"(?<=[a-z])\s+(\d+)(?:\s?[a-z])?(?:\s+\d+(?:\s?[a-z])?|\s+[a-z])?\s*$"
)
#: a key that starts with a province, city or region name ("北京市..."): group 1 is the name
FOREIGN_ADMIN = re.compile(rf"^([{_CJK}]{{2,4}}?)(省|市|自治区)")

_BASE_ADMIN_CJK = ("中华人民共和国", "中国")
_BASE_ADMIN_LATIN = ("pr china", "p r china", "china")

# "near ...", "...附近": where the customer is relative to a named place
_FILLER = re.compile(
    r"(?:附近|旁边|旁|对面|楼下|门口|后面|隔壁|一带)$|\b(?:near|opposite|next to)\b"
)
_GENERIC_SUFFIXES = ("小区", "社区", "花园小区", "住宅小区")


def has_cjk(text: str) -> bool:
    """Whether the text holds a CJK character."""
    return _HAS_CJK.search(text) is not None


def _detone(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _latin_words(text: str) -> str:
    """Map Latin road words to pinyin and put a trailing direction before the road type."""
    text = _SECTION_LATIN.sub(lambda m: f" sec{m.group(1) or m.group(2)} ", text)
    words = [w for w in re.split(r"[^0-9a-z" + _CJK + r"]+", text) if w]
    out: list[str] = []
    section = ""
    for w in words:
        if w.startswith("sec") and w[3:].isdigit():
            section = _PY_DIGITS[int(w[3:])] + "duan"
            continue
        if w == "str" or (w.endswith("str") and len(w) > 5 and not w[-4].isdigit()):
            w += "asse"  # German "Hauptstr." / "Haupt Str." for "Hauptstraße" (ß -> ss)
        out.append(_LATIN_WORDS.get(w, w))
    # "Dongchenggen Street South" -> dongchenggen nan jie (pinyin order of 东城根南街)
    for i in range(len(out) - 1):
        if out[i] in _ROAD_TYPES and out[i + 1] in _DIRECTIONS:
            out[i], out[i + 1] = out[i + 1], out[i]
    if section:
        out.append(section)
    return " ".join(out)


def prepare(text: str) -> str:
    """NFKC, case-folded (ß -> ss), no tone marks, Latin words mapped; spaces between words."""
    text = _detone(unicodedata.normalize("NFKC", text)).casefold()
    text = text.replace("’", "'").replace("`", "'").replace("'", "")
    text = _SECTION_CJK.sub(lambda m: _CN_DIGITS[int(m.group(1))] + "段", text)
    return _latin_words(text)


def to_key(prepped: str) -> str:
    """The matching key of a `prepare`-d text: letters, digits and CJK characters only."""
    return _NOT_KEY.sub("", prepped)


def normalize(text: str) -> str:
    """Normalise a name or address fragment to its matching key.

    >>> normalize("Chunxi Road") == normalize("chūnxī lù") == "chunxilu"
    True
    >>> normalize("ＡＢＣ１２３") == "abc123"
    True
    """
    return to_key(prepare(text))


def split_name(value: str) -> list[str]:
    """A name and its parts: "东城根南街 - Dongchenggen Street South" gives both halves.

    A parenthesised part in the other script is a translation and becomes a part
    ("金牛区 (Jinniu)"); in the same script it is a qualifier and is dropped, so that
    "Lazy Bones (Tianfu Square)" is not found as "Tianfu Square".
    """
    parts = [value]
    base_is_cjk = has_cjk(re.sub(r"[(（][^)）]*[)）]", "", value))
    kept = []
    for m in re.finditer(r"[(（]([^)）]*)[)）]", value):
        if has_cjk(m.group(1)) != base_is_cjk:
            kept.append(m.group(1))
    bare = re.sub(r"[(（][^)）]*[)）]", "  ", value)
    for piece in [*re.split(r"\s+-\s+|/|;|\s{2,}", bare), *kept]:
        piece = piece.strip(" ,-")
        if piece:
            parts.append(piece)
    if has_cjk(bare) and re.search(r"[A-Za-z]{3}", bare):
        parts.extend(m.group(0) for m in _CJK_RUN.finditer(bare))
        latin = _CJK_RUN.sub(" ", bare).strip(" -,/;")
        if latin:
            parts.append(latin)
    return list(dict.fromkeys(parts))


def primary_name(name: str) -> str:
    """The Chinese part of a bilingual name ("东城根南街 - Dongchenggen Street South")."""
    for part in split_name(name)[1:]:
        if has_cjk(part) and not re.search(r"[A-Za-z]", part):
            return part
    return name


def generic_cuts(key: str) -> list[str]:
    """The key without a generic compound suffix ("锦绣东方小区" -> "锦绣东方")."""
    return [
        key[: -len(s)] for s in _GENERIC_SUFFIXES if key.endswith(s) and len(key) - len(s) >= 3
    ]


def cut_units(prepped: str) -> str:
    """A `prepare`-d query without building/unit/room details and trailing fillers
    ("锦绣东方3栋2单元501" -> "锦绣东方", "... near ..." without "near")."""
    text = _FILLER.sub(" ", _LATIN_UNIT.sub(" ", prepped).strip())
    m = _CJK_UNIT.search(text)
    if m and m.start() > 0:
        text = text[: m.start()]
    return re.sub(r"\s+", " ", text).strip(" ,")


def leading_number(value: str) -> int | None:
    """The number an ``addr:housenumber`` starts with ("30a" -> 30), ``None`` if none."""
    m = re.match(r"\s*(\d+)", unicodedata.normalize("NFKC", value))
    return int(m.group(1)) if m else None


def split_house_number(prepped: str) -> tuple[str, int, str] | None:
    """Split "春熙路12号xx" / "no 12 chunxi lu" into (street part, number, rest)."""
    m = _HOUSE_CJK.search(prepped)
    if m and m.start() > 0:
        return prepped[: m.start()], int(m.group(1)), prepped[m.end() :]
    m = _HOUSE_CJK_BARE.search(prepped)
    if m and m.start() > 0:
        return prepped[: m.start()], int(m.group(1)), ""
    for rx in (_HOUSE_LATIN_NO, _HOUSE_LATIN_LEAD, _HOUSE_LATIN_TRAIL):
        m = rx.search(prepped)
        if m:
            rest = (prepped[: m.start()] + " " + prepped[m.end() :]).strip()
            if rest:
                return rest, int(m.group(1)), ""
    return None


def ngrams(key: str) -> set[str]:
    """Character n-grams of a key, for fuzzy candidates: pairs in CJK keys, triples otherwise."""
    n = 2 if has_cjk(key) else 3
    if len(key) <= n:
        return {key}
    return {key[i : i + n] for i in range(len(key) - n + 1)}


def admin_forms(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """CJK and Latin keys of admin names, with their short forms (成都市 -> 成都), longest
    first."""
    cjk: set[str] = set(_BASE_ADMIN_CJK)
    latin: set[str] = {normalize(a) for a in _BASE_ADMIN_LATIN}
    for name in names:
        k = normalize(name)
        if not k:
            continue
        if has_cjk(k):
            if len(k) < 2:
                continue
            cjk.add(k)
            if k[-1] in "省市区县" and len(k) >= 3:
                cjk.add(k[:-1])
        else:
            for suffix in ("district", "qu", "city", "shi", "province", "sheng"):
                if k.endswith(suffix) and len(k) > len(suffix) + 2:
                    latin.add(k)
                    if suffix in ("city", "shi", "province", "sheng"):
                        latin.add(k[: -len(suffix)])
                    break
    # district short forms ("锦江") are not stripped: too many real names start with them
    cjk = {a for a in cjk if not (len(a) == 2 and a + "区" in cjk)}
    latin = {a for a in latin if len(a) >= 5}
    return sorted(cjk, key=lambda a: (-len(a), a)), sorted(latin, key=lambda a: (-len(a), a))
