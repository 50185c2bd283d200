"""Companies and addresses: the ``company`` and ``address`` kinds, read from a document's header.

A company name usually opens a document: header lines rank by position, a
legal suffix (``Sdn Bhd``, ``GmbH``, ``Ltd``) ranks them up, and a bare suffix
line is joined to the name above it. Address lines hold a street word or a
postcode and are joined with the lines that continue them.
"""

from __future__ import annotations

import re

from orchestrator.agents._candidates.patterns import DATE_RE, MONEY_RE, STREET
from orchestrator.agents._candidates.spans import Candidate, lines

_COMPANY_SUFFIX = re.compile(
    r"\b(sdn\.?\s*bhd|bhd|inc|ltd|llc|gmbh|corp|co\.|company|enterprise|trading|"
    r"restaurant|store|mart|s/b|plc|pte)\b",
    re.IGNORECASE,
)
_ADDRESS_WORDS = re.compile(
    r"\b(jalan|jln|street|st\.|road|rd|avenue|ave|lot|no\.?|taman|floor|block|"
    r"\d{5})\b",
    re.IGNORECASE,
)
_REG_NUMBER = re.compile(
    r"\s*\(?\s*(?:(?:co(?:mpany)?|reg|roc)\.?\s*(?:reg\.?\s*)?no\.?\s*[:.]?)?\s*"
    r"\d{3,}[\w\-]*\s*\)?\s*$",
    re.IGNORECASE,
)
_SUFFIX_LINE = re.compile(r"\(?\s*(?:sdn\.?\s*bhd|bhd|berhad|ltd|inc|s/b|plc|pte)\b.*", re.IGNORECASE)
_NOT_A_NAME_LINE = re.compile(
    r"\b(?:tel|fax|gst|vat|ust|tax)\b|\breg|ust-id|steuer|invoice|receipt|rechnung|beleg|quittung|"
    r"no\.?\s*:|thank|welcome|danke|datum",
    re.IGNORECASE,
)
_FIELD_LABEL = re.compile(r"\b[A-Za-z][\w .\-]{0,24}:\s")
_SELLER_LABEL = re.compile(r"(?:vendor|seller|merchant|company|store|shop|sold by|from)\b", re.IGNORECASE)


def _header_line_score(index: int, line: str) -> float:
    """How much a header line looks like the company's name, from its position and its words."""
    score = 1.0 - index * 0.1
    if _COMPANY_SUFFIX.search(line):
        score += 1.5
    if _NOT_A_NAME_LINE.search(line):
        score -= 1.0
    if re.search(r"\d{6}", line):
        score -= 0.5  # a registration, tax or phone number
    if STREET.search(line) and not _COMPANY_SUFFIX.search(line):
        score -= 1.0  # an address
    if MONEY_RE.search(line) or ((label := _FIELD_LABEL.search(line)) and not _SELLER_LABEL.match(label.group())):
        score -= 1.0  # an item line, or a field such as "Customer: Oakridge Joinery"
    return score


def company_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Header lines (a company name usually opens a document), joined with a bare suffix line
    (``SDN BHD``), and without a trailing registration number; address lines rank low."""
    header = lines(text)[:12]
    found: list[Candidate] = []
    for index, (start, line) in enumerate(header):
        if not re.search(r"[A-Za-z]{2,}", line) or DATE_RE.search(line):
            continue
        score = _header_line_score(index, line)
        variant = line
        if _SUFFIX_LINE.fullmatch(line):  # a bare "SDN BHD" line is the end of a name, not a name
            score -= 2.0
        elif index + 1 < len(header) and _SUFFIX_LINE.fullmatch(header[index + 1][1]) \
                and not _SUFFIX_LINE.search(line):
            variant = f"{line} {header[index + 1][1]}"
            score += 2.0
        trimmed = _REG_NUMBER.sub("", variant).strip()
        if trimmed and trimmed != variant and re.search(r"[A-Za-z]{2,}", trimmed):
            found.append(Candidate(trimmed, start, score + 0.2))
        found.append(Candidate(variant, start, score))
    return found


def address_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Lines with a street word or postcode, alone and joined with the up to three lines that
    continue them (a telephone, tax, invoice or date line ends an address)."""
    header = lines(text)[:20]
    found: list[Candidate] = []
    for index, (start, line) in enumerate(header):
        if not _ADDRESS_WORDS.search(line):
            continue
        joined = line
        for _, nxt in header[index + 1 : index + 4]:
            if not _ADDRESS_WORDS.search(nxt) and not re.search(r"[A-Z]{3,}", nxt):
                break
            if re.search(r"tel|fax|gst|invoice|@|\d{2}/\d{2}", nxt, re.IGNORECASE):
                break
            joined = f"{joined}, {nxt}"
        found.append(Candidate(joined, start, 1.0 + 0.2 * joined.count(",") - 0.05 * index))
        found.append(Candidate(line, start, 0.5 - 0.05 * index))
    return found


__all__ = ["address_candidates", "company_candidates"]
