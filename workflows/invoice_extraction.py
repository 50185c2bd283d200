"""Invoice extraction: read a receipt or invoice into typed fields, then check them.

::

    document ─▶ extract (extractor) ─▶ normalize (normalize_fields) ─▶ validate (validate_json)

    answer = {fields, valid, errors}

One JSON schema drives all three steps. The extractor copies each value as
the document writes it (``05/03/2024``, ``RM 1,234.50``, ``€``), so it cannot
invent one; ``normalize_fields`` then converts those to the schema's forms
(``2024-03-05``, ``1234.5``, ``EUR``) without a model; and ``validate_json``
checks the result, so a caller sees exactly what is wrong (a missing total, a
date that could not be read) instead of trusting the model. Ambiguous numeric
dates are read day first (``date_order``), as on most receipts outside the US.
"""

from __future__ import annotations

from typing import Any

from orchestrator.workflow import Input, Workflow

INVOICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string", "minLength": 1,
                   "description": "Name of the shop or company that issued the receipt or invoice."},
        "date": {"type": "string", "format": "date",
                 "description": "Date of the purchase or invoice, as written on the document."},
        "invoice_number": {"type": ["string", "null"],
                           "description": "Invoice, receipt or bill number as printed, or null."},
        "total": {"type": "number", "minimum": 0,
                  "description": "The final amount paid or due, tax included (the grand total)."},
        "currency": {"type": ["string", "null"], "pattern": "^[A-Z]{3}$",
                     "description": "Currency as printed on the document, e.g. EUR, USD, GBP, €, $ or RM; "
                                    "null when none is printed."},
    },
    "required": ["vendor", "date", "total"],
}
"""The fields an invoice yields; ``required`` lists those every receipt must show."""

DATE_ORDER = "DMY"
"""How ambiguous numeric dates such as 05/03/2024 are read (day, month, year)."""


def build() -> Workflow:
    """The invoice extraction workflow (a new object on each call)."""
    wf = Workflow(
        "invoice_extraction",
        "Extract vendor, date, invoice number, total and currency from a receipt or invoice and "
        "validate them against a schema.",
        inputs={"document": Input(str, "The receipt or invoice text (e.g. OCR output).")},
        examples=["What is the total on this receipt?", "Extract the vendor, date and total from this invoice",
                  "Read the fields of this receipt", "Pull the invoice number and amount due out of this bill",
                  "Who issued this invoice and how much was paid?", "Parse this receipt into structured data"],
    )
    extract = wf.step("extract", "extractor",
                      instruction="Extract the invoice fields from this receipt or invoice.",
                      params={"fields": INVOICE_SCHEMA, "required": INVOICE_SCHEMA["required"]},
                      text=wf.input.document)
    normal = wf.step("normalize", "normalize_fields",
                     instruction="Convert dates, amounts and currency to their canonical forms.",
                     params={"schema": INVOICE_SCHEMA, "date_order": DATE_ORDER}, data=extract.data)
    check = wf.step("validate", "validate_json", instruction="Check the invoice fields against the schema.",
                    params={"schema": INVOICE_SCHEMA}, data=normal.data)
    wf.output(fields=normal.data, valid=check.valid, errors=check.errors)
    return wf


workflow = build()

__all__ = ["DATE_ORDER", "INVOICE_SCHEMA", "build", "workflow"]
