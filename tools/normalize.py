"""Turn values copied from a document into the canonical forms a JSON schema asks for.

Extractors copy values as written (``05/03/2024``, ``RM 1,234.50``, ``€``);
schemas want ``2024-03-05``, ``1234.5`` and ``EUR``. This tool converts, field
by field, guided by the schema's ``properties``:

* ``"format": "date"``: common written dates to ``YYYY-MM-DD``. Numeric dates
  are read in ``date_order`` (day first by default) unless only one reading
  is a real date (``03/25/2024`` is read month first).
* ``"type": "number"`` / ``"integer"``: amounts with currency signs, spaces and
  thousands separators, in either ``1,234.50`` or ``1.234,50`` style.
* a field named ``currency`` or with ``"format": "currency"``: a currency sign
  or code found in the value (``€``, ``RM``, ``usd``) to its ISO 4217 code.
* other strings: surrounding whitespace removed.

A value that cannot be converted is left as it is, for ``validate_json`` to
report. Fields the schema does not describe pass through unchanged.
"""

from __future__ import annotations

import datetime as dt
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
_AMOUNT = re.compile(r"[-+]?\d+(?:[.,']\d+|[ \u00a0]\d{3}(?!\d))*")

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
    """The first date written in ``value`` (numeric or with a month name), or None."""
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
    return None


def parse_amount(value: str) -> float | None:
    """The first amount written in ``value`` (``"RM 1,234.50"`` -> ``1234.5``), or None."""
    match = _AMOUNT.search(value)
    if not match:
        return None
    number = re.sub(r"[' \u00a0]", "", match.group()).rstrip(".,")
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
        "common way to YYYY-MM-DD (format date), amounts such as 'RM 1,234.50' to numbers (type "
        "number), currency signs such as '€' to ISO codes (a field named currency). Params: schema, "
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


__all__ = ["DateOrder", "NormalizeFields", "NormalizeFieldsInput", "NormalizeFieldsOutput",
           "normalize_value", "parse_amount", "parse_currency", "parse_date"]
