"""Turn values copied from a document into the canonical forms a JSON schema asks for.

Extractors copy values as written (``05/03/2024``, ``RM 1,234.50``, ``€``);
schemas want ``2024-03-05``, ``1234.5`` and ``EUR``. This tool converts, field
by field, guided by the schema's ``properties``:

* ``"format": "date"``: common written dates to ``YYYY-MM-DD``. Numeric dates
  are read in ``date_order`` (day first by default) unless only one reading
  is a real date (``03/25/2024`` is read month first). English month names and
  CJK dates (``2024年3月5日``) are read here; month names of other languages
  (``5. März 2024``, ``5 mars 2024``, ``5 de marzo de 2024``) by ``dateparser``
  when it is installed (``pip install 'slm-orchestrator[dates]'``), restricted
  to :data:`DATE_LANGUAGES` and strict (day, month and year all written); without
  it such a value is left as it is rather than guessed.
* ``"type": "number"`` / ``"integer"``: amounts with currency signs, spaces and
  thousands separators, in either ``1,234.50`` or ``1.234,50`` style; a ``k``,
  ``m`` or ``bn`` written right after the number multiplies it (``$1.2k`` is
  1200); accounting negatives (``(12.50)``, ``12.50-``) and a sign before the
  currency (``-$5``) keep their sign.
* a field named ``currency`` or with ``"format": "currency"``: a currency sign
  or code found in the value (``€``, ``RM``, ``usd``) to its ISO 4217 code.
* other strings: surrounding whitespace removed.

A value that cannot be converted is left as it is, for ``validate_json`` to
report. Fields the schema does not describe pass through unchanged.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.specialist import Tool

DateOrder = Literal["DMY", "MDY", "YMD"]

_MONTHS = {name: index for index, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
     ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
     ("oct", "october"), ("nov", "november"), ("dec", "december")], start=1) for name in names}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})(?!\d)")
_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th)?[ .-]*({_MONTH})\.?[ ,.-]*(\d{{2,4}})(?!\d)", re.I
)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\.?[ .-]*(\d{{1,2}})(?:st|nd|rd|th)?[ ,.-]+(\d{{2,4}})(?!\d)", re.I)
_CJK_DATE = re.compile(r"(\d{2,4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_LETTERS = re.compile(r"[^\W\d_]{3,}")
DATE_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")
"""The languages ``dateparser`` reads month names in (a short list keeps it fast and unambiguous)."""
_AMOUNT = re.compile(r"[-+]?\d+(?:[.,']\d+|[ \u00a0]\d{3}(?!\d))*")
_MULTIPLIER = re.compile(r"(k|m|mn|bn)(?![^\W\d_])", re.IGNORECASE)
_MULTIPLIERS = {"k": 1e3, "m": 1e6, "mn": 1e6, "bn": 1e9}
_SIGN_BEFORE_CURRENCY = re.compile(r"-\s*(?:[^\w\s]{1,3}|[A-Za-z]{2,3})\s*$")

# Symbols and local abbreviations first; bare ISO codes are recognised on their own.
_CURRENCY_SIGNS = [("US$", "USD"), ("A$", "AUD"), ("C$", "CAD"), ("S$", "SGD"), ("HK$", "HKD"),
                   ("R$", "BRL"), ("€", "EUR"), ("£", "GBP"), ("¥", "JPY"), ("₹", "INR"), ("₩", "KRW"),
                   ("₺", "TRY"), ("₽", "RUB"), ("zł", "PLN"), ("kč", "CZK"), ("RM", "MYR"), ("$", "USD")]
_ISO_CODES = frozenset({
    "AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP", "EUR",
    "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KES", "KRW", "MXN", "MYR", "NGN", "NOK",
    "NZD", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD",
    "UAH", "USD", "VND", "ZAR",
})


def _year(value: int) -> int:
    return value + (2000 if value < 70 else 1900) if value < 100 else value


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(_year(year), month, day)
    except ValueError:
        return None


def parse_date(value: str, order: DateOrder = "DMY") -> dt.date | None:
    """The first date written in ``value`` (numeric, with a month name, or in CJK form), or None."""
    if match := _CJK_DATE.search(value):
        cjk_year, cjk_month, cjk_day = (int(g) for g in match.groups())
        return _make_date(cjk_year, cjk_month, cjk_day)
    if match := _NUMERIC_DATE.search(value):
        a, b, c = (int(g) for g in match.groups())
        if len(match.group(1)) == 4:
            return _make_date(a, b, c)
        readings = {"DMY": (c, b, a), "MDY": (c, a, b), "YMD": (a, b, c)}
        preferred = _make_date(*readings[order])
        if preferred is not None:
            return preferred
        for other in readings.values():
            if (found := _make_date(*other)) is not None:
                return found
        return None
    if match := _DAY_MONTH_YEAR.search(value):
        day, month, year = match.groups()
        return _make_date(int(year), _MONTHS[month.lower()], int(day))
    if match := _MONTH_DAY_YEAR.search(value):
        month, day, year = match.groups()
        return _make_date(int(year), _MONTHS[month.lower()], int(day))
    return _foreign_date(value, order) if _LETTERS.search(value) else None


def _foreign_date(value: str, order: DateOrder) -> dt.date | None:
    """A date with a month name in one of :data:`DATE_LANGUAGES`, by ``dateparser`` when installed."""
    if len(re.findall(r"\d+", value)) < 2 or importlib.util.find_spec("dateparser") is None:
        return None  # a day and a year must be written: never "yesterday" or "March"
    import dateparser

    found = dateparser.parse(value, languages=list(DATE_LANGUAGES), settings={
        "DATE_ORDER": order, "STRICT_PARSING": True, "REQUIRE_PARTS": ["day", "month", "year"],
        "PREFER_LOCALE_DATE_ORDER": False, "PARSERS": ["absolute-time"]})
    return found.date() if found is not None else None


def parse_amount(value: str) -> float | None:
    """The first amount written in ``value`` (``"RM 1,234.50"`` -> ``1234.5``, ``"$1.2k"`` -> ``1200``,
    ``"(12.50)"`` -> ``-12.5``), or None."""
    match = _AMOUNT.search(value)
    if not match:
        return None
    amount = _number(match.group())
    if amount is None:
        return None
    after, before = value[match.end():], value[:match.start()]
    if multiplier := _MULTIPLIER.match(after):
        amount = round(amount * _MULTIPLIERS[multiplier.group(1).lower()], 9)
        after = after[multiplier.end():]
    negative = (("(" in before and ")" in after and not before.rstrip().endswith(tuple("0123456789")))
                or after.strip().startswith("-") or bool(_SIGN_BEFORE_CURRENCY.search(before)))
    return -abs(amount) if negative else amount


def _number(text: str) -> float | None:
    """A written number: thousands separators dropped, the decimal mark told from them."""
    number = re.sub(r"[' \u00a0]", "", text).rstrip(".,")
    commas, dots = number.count(","), number.count(".")
    if commas and dots:
        decimal = "," if number.rfind(",") > number.rfind(".") else "."
    elif commas:
        decimal = "," if commas == 1 and len(number) - number.rfind(",") - 1 != 3 else ""
    elif dots:
        decimal = "." if dots == 1 else ""
    else:
        decimal = ""
    thousands = {",", "."} - {decimal}
    cleaned = "".join(ch for ch in number if ch not in thousands).replace(",", ".")
    try:
        return float(cleaned)
    except ValueError:
        return None


def parse_currency(value: str) -> str | None:
    """The ISO 4217 code of a currency sign or code in ``value`` (``"€"`` -> ``"EUR"``), or None."""
    for match in re.finditer(r"(?<![A-Za-z])[A-Za-z]{3}(?![A-Za-z])", value):
        if (code := match.group().upper()) in _ISO_CODES:
            return code
    lowered = value.lower()
    for sign, code in _CURRENCY_SIGNS:
        if sign.lower() in lowered:
            return code
    return None


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def normalize_value(name: str, value: Any, schema: Mapping[str, Any], order: DateOrder = "DMY") -> Any:
    """``value`` in the form ``schema`` asks for, or unchanged when it cannot be converted."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if schema.get("format") == "date":
        parsed_date = parse_date(text, order)
        return parsed_date.isoformat() if parsed_date else text
    if name == "currency" or schema.get("format") == "currency":
        return parse_currency(text) or text
    types = _types(schema)
    if types & {"number", "integer"}:
        amount = parse_amount(text)
        if amount is None:
            return text
        return int(amount) if "integer" in types and amount.is_integer() else amount
    return text


class NormalizeFieldsInput(BaseModel):
    """What :class:`NormalizeFields` reads."""

    model_config = ConfigDict(populate_by_name=True)

    data: dict[str, Any] = Field(description="Extracted fields, e.g. '$steps.extract.data'.")
    json_schema: dict[str, Any] = Field(alias="schema",
                                        description="JSON schema whose properties say each field's form.")
    date_order: DateOrder = Field(default="DMY",
                                  description="How to read ambiguous numeric dates such as 05/03/2024.")


class NormalizeFieldsOutput(BaseModel):
    """The converted fields."""

    data: dict[str, Any] = Field(
        description="The fields in canonical form (ISO dates, numbers, ISO currency codes).")
    changed: list[str] = Field(description="Names of the fields whose value was converted.")


class NormalizeFields(Tool[NormalizeFieldsInput, NormalizeFieldsOutput]):
    """Canonicalises extracted values by their schema."""

    name = "normalize_fields"
    description = (
        "Convert extracted field values to the forms their JSON schema asks for: dates written any "
        "common way to YYYY-MM-DD (format date), amounts such as 'RM 1,234.50', '$1.2k' or '(12.50)' to "
        "numbers (type number), currency signs such as '€' to ISO codes (a field named currency). Params: schema, "
        "date_order (DMY, MDY or YMD for ambiguous dates). Returns data and changed (converted field "
        "names). Use it between an extractor and validate_json. Deterministic, no model."
    )
    Input = NormalizeFieldsInput
    Output = NormalizeFieldsOutput

    def run(self, request: NormalizeFieldsInput) -> NormalizeFieldsOutput:
        properties: Mapping[str, Any] = request.json_schema.get("properties", {})
        data: dict[str, Any] = {}
        changed: list[str] = []
        for name, value in request.data.items():
            schema = properties.get(name)
            data[name] = normalize_value(name, value, schema, request.date_order) \
                if isinstance(schema, Mapping) else value
            if data[name] != value:
                changed.append(name)
        return NormalizeFieldsOutput(data=data, changed=changed)


__all__ = ["DATE_LANGUAGES", "DateOrder", "NormalizeFields", "NormalizeFieldsInput", "NormalizeFieldsOutput",
           "normalize_value", "parse_amount", "parse_currency", "parse_date"]
