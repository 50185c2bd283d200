"""Candidate spans: the parts of a text that could fill a field of a given kind, ranked.

:func:`find_candidates` lists spans (dates, amounts, currencies, emails, ids, people,
companies, addresses, products, lines) with a deterministic prior score; the
extractor offers the best few to a small model, or takes the best one outright when
its prior clearly leads. The heuristics read the span's label (``Invoice No:``,
``Contact:``, ``TOTAL``), its position and its shape; a span that looks like another
kind of thing (a VAT number offered as an invoice number, a company offered as a
person) scores at or below :data:`UNLIKELY` and is left out.

One module per family of kinds, one table (:data:`~.kinds.KINDS`) from a kind to
its finder and check::

    spans       Candidate, UNLIKELY, lines, whole-line candidates (the ``text`` kind)
    patterns    the patterns several kinds read (dates, amounts, phones, emails, names)
    dates       date
    money       money, currency, number
    contact     email, phone
    ids         id
    companies   company, address
    people      name
    products    product
    kinds       Kind, infer_kind, KINDS, find_candidates, valid_for_kind
"""

from orchestrator.agents._candidates.kinds import KINDS, Kind, KindSpec, find_candidates, infer_kind, valid_for_kind
from orchestrator.agents._candidates.money import CURRENCY_CODES
from orchestrator.agents._candidates.spans import UNLIKELY, Candidate

__all__ = [
    "CURRENCY_CODES",
    "KINDS",
    "UNLIKELY",
    "Candidate",
    "Kind",
    "KindSpec",
    "find_candidates",
    "infer_kind",
    "valid_for_kind",
]
