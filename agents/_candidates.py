"""Candidate spans: the parts of a text that could fill a field of a given kind, ranked.

:func:`find_candidates` lists spans (dates, amounts, currencies, emails, ids, people,
companies, addresses, products, lines) with a deterministic prior score; the
extractor offers the best few to a small model, or takes the best one outright when
its prior clearly leads. The heuristics read the span's label (``Invoice No:``,
``Contact:``, ``TOTAL``), its position and its shape; a span that looks like another
kind of thing (a VAT number offered as an invoice number, a company offered as a
person) scores at or below :data:`UNLIKELY` and is left out.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.agents._grounding import normalise, parse_amount, parse_date

Kind = Literal[
    "date", "money", "currency", "number", "email", "phone", "id", "name", "company", "address", "product", "text"
]

UNLIKELY = -2.0
"""Candidates scored at or below this look like another kind of value and are not offered."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A span of the text that could fill a field, with a heuristic prior score (higher is likelier)."""

    value: str
    start: int
    score: float = 0.0


_DATE_RE = re.compile(
    r"\b(?:\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{4}[/\-]\d{1,2}[/\-]\d{1,2}"
    r"|\d{1,2}[ \-]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*[ \-,]*\d{2,4}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]* \d{1,2},? \d{4})\b",
    re.IGNORECASE,
)
# Amounts with two decimals, written 1,234.50 or 1.234,50 (the comma-decimal form only when the
# text has no dot-decimal amount next to it: see _money_candidates), or a currency and an integer.
_CURRENCY_PREFIX = r"(?:[$€£]|RM|USD|EUR|GBP)"
_MONEY_RE = re.compile(
    rf"(?<![\w./:\-,]){_CURRENCY_PREFIX}?\s?-?\d{{1,3}}(?:,\d{{3}})*\.\d{{2}}(?![\w/%]|[.,]\d)"
    rf"|(?<![\w./:\-,]){_CURRENCY_PREFIX}?\s?-?\d{{1,3}}(?:\.\d{{3}})*,\d{{2}}(?![\w/%]|[.,]\d)"
    rf"|(?<![\w./:\-,]){_CURRENCY_PREFIX}\s?-?\d+(?![\w/%]|[.,]\d)",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w])")
_EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PHONE_RE = re.compile(r"(?<!\w)\+?\(?\d[\d ()\-]{6,}\d(?!\w)")
_ID_RE = re.compile(r"\b(?=[A-Z0-9\-/]*\d)[A-Z0-9][A-Z0-9\-/]{3,}\b")
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
# A line that is an address: a street word (English, Malay, German) or a postcode.
_STREET = re.compile(
    r"(?i:\b(?:jalan|jln|street|st\.|road|rd|avenue|ave|lane|drive|way|unit|suite|floor|taman|"
    r"\w*(?:strasse|straße|str\.|weg|gasse|platz|allee))(?!\w))"
    r"|\b\d{4,5}\b(?=\s+[A-Z][a-z])|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"
)
_NAME_RE = re.compile(r"\b[A-Z][a-z]+(?:[ \-][A-Z][a-z]+)+\b")


def infer_kind(name: str, schema: Mapping[str, Any]) -> Kind:
    """Which kind of span a field takes, from its JSON-schema type/format, name and description."""
    words = f"{name} {schema.get('description', '')}".lower()
    fmt = str(schema.get("format", ""))
    types = schema.get("type")
    type_list = types if isinstance(types, list) else [types]
    if fmt in ("date", "date-time") or re.search(r"\bdate\b|_date|date_|\bday\b|\bdob\b", words):
        return "date"
    if fmt == "currency" or "currenc" in name.lower():
        return "currency"
    if fmt == "email" or "email" in words or "e-mail" in words:
        return "email"
    if re.search(r"phone|\btel\b|mobile|\bfax\b", words):
        return "phone"
    if re.search(r"total|amount|price|cost|sum|balance|\bfee\b|\btax\b|paid|money", words):
        return "money"
    if "number" in type_list or "integer" in type_list:
        return "number"
    if "currenc" in words:
        return "currency"
    if re.search(r"company|vendor|merchant|seller|store|shop|supplier|organi[sz]ation|business", words):
        return "company"
    if re.search(r"address|location", words):
        return "address"
    if re.search(r"product|item|device|model|plan|service|subscription|\bapp\b", words):
        return "product"
    if re.search(r"\bid\b|_id\b|number|\bno\b|code|invoice|reference|\bref\b|order|account", words):
        return "id"
    if re.search(r"name|person|customer|contact|author|who", words):
        return "name"
    return "text"


def _lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped:
            out.append((offset + raw.index(stripped[0]), stripped))
        offset += len(raw)
    return out


def _matches(pattern: re.Pattern[str], text: str) -> list[Candidate]:
    return [Candidate(m.group().strip(), m.start()) for m in pattern.finditer(text) if m.group().strip()]


def _line_prefix(text: str, start: int, width: int = 40) -> str:
    """The text before ``start`` on its line (at most ``width`` characters), lower case."""
    line_start = text.rfind("\n", 0, start) + 1
    return text[max(line_start, start - width) : start].lower()


def _line_at(text: str, start: int) -> str:
    """The whole line of ``text`` that ``start`` is on."""
    end = text.find("\n", start)
    return text[text.rfind("\n", 0, start) + 1 : len(text) if end < 0 else end]


# -- amounts and currencies -----------------------------------------------------

_STRONG_TOTAL = re.compile(
    r"grand\s*total|nett?\s*(?:total|amt|amount)|total\s*(?:amount|payable|due|incl|inclusive|rm|\(rm)"
    r"|amount\s*(?:due|payable)|balance\s*due|total\s*sales\s*\(?incl"
    r"|gesamt(?:betrag|summe)?|endbetrag|zu\s*zahlen|total\s*ttc|montant\s*total|importe\s*total",
    re.IGNORECASE,
)
_NOT_TOTAL = re.compile(
    r"sub\s*-?\s*total|zwischensumme|saving|qty|quantity|count|\bitems?\b|\btax\b|gst|vat|mwst|\bust\b|"
    r"change|tender|\bcash\b|\bbar\b|gegeben|r(?:ü|ue)ckgeld|netto|trinkgeld|\btip\b|"
    r"discount|excl|adj|unit|price|\bpaid\b|received",
    re.IGNORECASE,
)
_AMOUNT_ONLY = re.compile(r"^[\W\d]*$")


def _total_label_score(line: str) -> float:
    """How strongly a label line says "the amount here is the document's total"."""
    if _STRONG_TOTAL.search(line):
        return 3.0
    if _NOT_TOTAL.search(line):
        return -1.0
    if re.search(r"\b(?:total|summe|sum)\b", line, re.IGNORECASE):
        return 2.5
    if re.search(r"\b(?:rounded|rounding|payable|due|net)\b", line, re.IGNORECASE):
        return 1.5
    if re.search(r"\b(?:amount|betrag)\b", line, re.IGNORECASE):
        return 0.5
    return 0.0


def _label_of_amount(lines: list[tuple[int, str]], index: int) -> float:
    """The total-label score of the amount's own line, or of the nearest label line above it."""
    same_line = lines[index][1] if lines else ""
    if re.search(r"[A-Za-z]{2,}", _MONEY_RE.sub("", same_line)):
        return _total_label_score(same_line)
    # the nearest label above, skipping punctuation and bare counts, stopping at another amount
    for back, decay in ((1, 0.9), (2, 0.7), (3, 0.5), (4, 0.3)):
        if index - back < 0:
            break
        line = lines[index - back][1]
        if _AMOUNT_ONLY.match(line):
            if _MONEY_RE.search(line):
                break
            continue
        return _total_label_score(line) * decay
    return 0.0


def _money_candidates(text: str) -> list[Candidate]:
    """Amounts ranked by their label: an amount on, or just after, a TOTAL line ranks first."""
    lines = _lines(text)
    starts = [start for start, _ in lines]
    amounts = _matches(_MONEY_RE, text)
    counts: dict[float | None, int] = {}
    for cand in amounts:
        counts[parse_amount(cand.value)] = counts.get(parse_amount(cand.value), 0) + 1
    found: list[Candidate] = []
    for cand in amounts:
        index = max(0, bisect.bisect_right(starts, cand.start) - 1)
        score = _label_of_amount(lines, index) + 0.5 * cand.start / max(1, len(text))  # totals tend to come late
        score += 0.3 * min(2, counts[parse_amount(cand.value)] - 1)  # and to repeat (paid, cash, card)
        found.append(Candidate(cand.value, cand.start, score))
    labelled = [parse_amount(c.value) or 0.0 for c in found if c.score >= 1.0]
    if labelled:  # among labelled amounts the largest is the usual grand total
        best = max(labelled)
        found = [Candidate(c.value, c.start, c.score + (0.3 if parse_amount(c.value) == best else 0.0)) for c in found]
    return found


CURRENCY_CODES = frozenset(
    "AED AUD BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF IDR INR JPY KRW MXN MYR NOK NZD PHP PLN RUB SEK SGD "
    "THB TRY TWD USD VND ZAR".split()
)
"""ISO 4217 codes recognised as currencies in a text (next to an amount, or anywhere for the commonest)."""
_COMMON_CODES = frozenset({"EUR", "USD", "GBP"})
_CURRENCY_SIGNS = frozenset({"US$", "A$", "C$", "S$", "HK$", "R$", "€", "£", "¥", "₹", "$", "RM"})
_CURRENCY_SIGN_RE = re.compile(r"(?:US|A|C|S|HK|R)\$|[€£¥₹$]|\bRM(?=\s?\d)")
_CURRENCY_CODE_RE = re.compile(r"(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])")
_NEAR_AMOUNT = 4
"""A currency within this many characters of a digit, or on a line with an amount, goes with an amount."""


def _currency_candidates(text: str) -> list[Candidate]:
    """Currency signs and ISO codes as printed: beside an amount, on the total line, repeated."""
    lines = _lines(text)
    starts = [start for start, _ in lines]
    found: list[Candidate] = []
    codes = [m for m in _CURRENCY_CODE_RE.finditer(text) if m.group() in CURRENCY_CODES]
    for match in [*codes, *_CURRENCY_SIGN_RE.finditer(text)]:
        around = text[max(0, match.start() - _NEAR_AMOUNT) : match.end() + _NEAR_AMOUNT]
        line = lines[max(0, bisect.bisect_right(starts, match.start()) - 1)][1] if lines else ""
        near_amount = bool(re.search(r"\d", around) or _MONEY_RE.search(line))
        labelled = bool(re.search(r"currenc|w(?:ä|ae)hrung|devise|moneda", line, re.IGNORECASE))
        is_sign = match.re is _CURRENCY_SIGN_RE
        if not (near_amount or labelled or is_sign or match.group() in _COMMON_CODES):
            continue  # a bare three-letter word such as PHP or TRY is rarely a currency
        score = 1.0 + (1.0 if near_amount else 0.0) + (1.0 if labelled else 0.0)
        if near_amount and _total_label_score(line) >= 2.5:
            score += 0.5
        score += 0.2 * min(3, text.count(match.group()) - 1)
        found.append(Candidate(match.group(), match.start(), score))
    return found


# -- identifiers ------------------------------------------------------------------

_ID_LABEL = re.compile(
    r"\b(invoice|receipt|order|beleg|bon|rechnung|bestell\w*|ref\w*|booking|transaction|ticket|case|document)"
    r"[\s\-.]*(?:no|nr|num\w*|#|id)?[\s.:#]*$"
)
_OTHER_ID_LABEL = re.compile(
    r"\b(vat|gst|tax|ust|steuer\w*|idnr|reg\w*|tel\w*|phone|fax|iban|swift|bic|merchant|customer|account|"
    r"member|sku|model|serial|part)[\s\-.]*(?:no|nr|num\w*|#|id)?[\s.:#]*$"
)
_YEAR = re.compile(r"(?:19|20)\d{2}")


def _id_candidates(text: str, hint: str) -> list[Candidate]:
    """Codes and numbers, ranked by their label: ``Invoice No: X`` and ``order X`` rank first; a VAT,
    phone or merchant number (unless ``hint`` asks for one), a year or a postcode rank last."""
    # pieces of a date or of a phone number ("010-2030" in "(555) 010-2030") are not identifiers
    dates = [(m.start(), m.end()) for m in _DATE_RE.finditer(text)]
    phones = [(m.start(), m.end()) for m in _PHONE_RE.finditer(text) if sum(ch.isdigit() for ch in m.group()) >= 7]
    hint_words = set(re.findall(r"[a-z]+", hint.lower()))
    found: list[Candidate] = []
    for cand in _matches(_ID_RE, text):
        end = cand.start + len(cand.value)
        if any(s <= cand.start and end <= e for s, e in dates) \
                or any(s <= cand.start and end <= e and e - s > len(cand.value) for s, e in phones):
            continue
        prefix = _line_prefix(text, cand.start)
        score = 0.0
        if (label := _ID_LABEL.search(prefix)) is not None:
            score += 2.0 if label.group(1) in hint_words or not hint_words else 1.5
        elif (other := _OTHER_ID_LABEL.search(prefix)) is not None:
            score += 2.0 if other.group(1) in hint_words else UNLIKELY
        if _YEAR.fullmatch(cand.value):
            score -= 1.5
        elif cand.value.isdigit() and _STREET.search(_line_at(text, cand.start)):
            score -= 1.5  # a postcode
        found.append(Candidate(cand.value, cand.start, score))
    return found


# -- companies and addresses ---------------------------------------------------------

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


def _company_candidates(text: str) -> list[Candidate]:
    """Header lines (a company name usually opens a document), joined with a bare suffix line
    (``SDN BHD``), and without a trailing registration number; address lines rank low."""
    lines = _lines(text)[:12]
    found: list[Candidate] = []
    for index, (start, line) in enumerate(lines):
        if not re.search(r"[A-Za-z]{2,}", line) or _DATE_RE.search(line):
            continue
        score = 1.0 - index * 0.1
        if _COMPANY_SUFFIX.search(line):
            score += 1.5
        if _NOT_A_NAME_LINE.search(line):
            score -= 1.0
        if re.search(r"\d{6}", line):
            score -= 0.5  # a registration, tax or phone number
        if _STREET.search(line) and not _COMPANY_SUFFIX.search(line):
            score -= 1.0  # an address
        if _MONEY_RE.search(line) or ((label := _FIELD_LABEL.search(line)) and not _SELLER_LABEL.match(label.group())):
            score -= 1.0  # an item line, or a field such as "Customer: Oakridge Joinery"
        variants = [line]
        if _SUFFIX_LINE.fullmatch(line):  # a bare "SDN BHD" line is the end of a name, not a name
            score -= 2.0
        elif index + 1 < len(lines) and _SUFFIX_LINE.fullmatch(lines[index + 1][1]) and not _SUFFIX_LINE.search(line):
            variants = [f"{line} {lines[index + 1][1]}"]
            score += 2.0
        for variant in variants:
            trimmed = _REG_NUMBER.sub("", variant).strip()
            if trimmed and trimmed != variant and re.search(r"[A-Za-z]{2,}", trimmed):
                found.append(Candidate(trimmed, start, score + 0.2))
            found.append(Candidate(variant, start, score))
    return found


def _address_candidates(text: str) -> list[Candidate]:
    lines = _lines(text)[:20]
    found: list[Candidate] = []
    for index, (start, line) in enumerate(lines):
        if not _ADDRESS_WORDS.search(line):
            continue
        joined = line
        for _, nxt in lines[index + 1 : index + 4]:
            if not _ADDRESS_WORDS.search(nxt) and not re.search(r"[A-Z]{3,}", nxt):
                break
            if re.search(r"tel|fax|gst|invoice|@|\d{2}/\d{2}", nxt, re.IGNORECASE):
                break
            joined = f"{joined}, {nxt}"
        found.append(Candidate(joined, start, 1.0 + 0.2 * joined.count(",") - 0.05 * index))
        found.append(Candidate(line, start, 0.5 - 0.05 * index))
    return found


# -- people -------------------------------------------------------------------------

# Lines that open or close a message are never a field's value.
_SALUTATION = re.compile(
    r"^(?:hello|hi|hey|dear|good (?:morning|afternoon|evening)|thanks?|thank you|many thanks|regards|"
    r"best|kind regards|best regards|cheers|sincerely|yours)\b[^.!?]{0,40}[,!.]?$",
    re.IGNORECASE,
)
# Words that make a capitalised phrase an organisation, a team or a product rather than a person.
_ORGANISATION_WORDS = frozenset(
    "supplies supply ltd limited inc gmbh llc plc corp corporation company co group holdings services service "
    "solutions systems software technologies technology tech labs partners industries international "
    "enterprises enterprise trading store shop mart hardware tools bank foods restaurant cafe hotel team "
    "support department university school agency studio consulting review report quarter".split()
)
_PERSON_LABEL = re.compile(r"\b(?:contact|from|name|customer|signed|sender|requester|by|regards|thanks)\W*$")
_ORGANISATION_LABEL = re.compile(r"\b(?:merchant|company|account|business|organi[sz]ation|vendor|shop|store|at)\b.*$")


def _line_candidates(text: str) -> list[Candidate]:
    return [
        Candidate(line, start, -0.01 * index)
        for index, (start, line) in enumerate(_lines(text))
        if len(line) <= 200 and not _SALUTATION.match(line)
    ]


def _person_candidates(text: str) -> list[Candidate]:
    """Two or three capitalised words, ranked up on a ``Contact:``/``From:`` line or as a signature,
    down when they name an organisation (``Brightleaf Garden Supplies``) or open a greeting."""
    signature_lines = {start for start, _ in _lines(text)[-3:]}
    found: list[Candidate] = []
    for match in _NAME_RE.finditer(text):
        value, start = match.group(), match.start()
        while (opener := re.match(r"(\w+)[ \-]", value)) and opener.group(1).lower() in _COMMON_OPENERS:
            value, start = value[opener.end() :], start + opener.end()
        words = value.replace("-", " ").split()
        if len(words) < 2:
            continue  # "Hello Fieldnote": a greeting and one word
        score = 1.0 if len(words) <= 3 else 0.3
        if any(word.lower() in _ORGANISATION_WORDS for word in words):
            score -= 2.0
        prefix = _line_prefix(text, start)
        if _PERSON_LABEL.search(prefix):
            score += 1.0
        elif _ORGANISATION_LABEL.search(prefix):
            score -= 1.0
        if start in signature_lines:
            score += 1.0
        found.append(Candidate(value, start, score))
    return found


# -- products ------------------------------------------------------------------------

# A product mention: a brand-like word (capitalised or camel-case), optional model tokens
# ("3000", "X2", "Pro", "API"), then at most two lowercase words that are not function words.
_PRODUCT_RE = re.compile(r"\b([A-Z][a-z]*[A-Z]\w*|[A-Z][a-z]+)((?:[ -][A-Z0-9][\w-]*)*)((?: [a-z]{3,}){0,2})")
_FUNCTION_WORDS = frozenset(
    "the and for from with because on in at to of is was are were it its my your our this that please but "
    "has have had not still been will would can could should about into over under when which who what "
    "every each some any all day days week weeks time times since out off back again too very just also "
    "really here there now then never always".split()
)
# Generic nouns after a brand name the product's name does not include ("Fieldnote account").
_GENERIC_NOUNS = frozenset(
    "account accounts endpoint endpoints team support page pages error errors call calls request requests "
    "portal website site status issue issues problem problems order orders customer customers user users "
    "login password".split()
)
_COMMON_OPENERS = frozenset(
    "hello hi dear thank thanks this that your my our the subject refund order please regards best i we it "
    "you they he she monday tuesday wednesday thursday friday saturday sunday january february march april "
    "may june july august september october november december kind many cheers".split()
)


_CODE = re.compile(r"[A-Z]{2,}[-/#]\d[\w\-/]*")


def _product_score(text: str, match: re.Match[str], value: str, has_nouns: bool) -> float:
    head, model = match.group(1), match.group(2)
    score = 1.0 + (1.0 if any(ch.isdigit() for ch in model) else 0.0)
    score += 0.5 if any(ch.isupper() for ch in head[1:]) else 0.0
    score += 0.5 if re.search(r"\b[A-Z]{2,}\b", model) and not any(ch.isdigit() for ch in model) else 0.0  # API
    repeats = text.count(head + model) - 1
    score += 0.5 * min(repeats, 2)
    if has_nouns and repeats > 0:
        score += 0.5  # the full name of a brand the text mentions again ("Fieldnote desktop app")
    if not model and not has_nouns and _NAME_RE.fullmatch(value) is None:
        score -= 0.5  # a lone capitalised word is weak evidence
    if _NAME_RE.fullmatch(value) and not any(ch.isdigit() for ch in value):
        score -= 1.0  # looks like a person's name
    gap_start = len(text[: match.start()].rstrip())  # hard-wrapped lines do not start sentences, paragraphs do
    before, paragraph = text[:gap_start], "\n\n" in text[gap_start : match.start()]
    if (not before or before[-1] in ".!?:" or paragraph) and not any(ch.isdigit() for ch in model) \
            and not any(ch.isupper() for ch in head[1:]):
        score -= 0.5  # sentence-initial capitals are grammar, not a brand
    if text[match.end() : match.end() + 2].lstrip().startswith(":"):
        score -= 1.0  # a field label ("Merchant account:", "Contact:")
    if _CODE.fullmatch(value):
        return UNLIKELY  # an order, ticket or invoice number is not a product (ORD-48213, INV/2024/7)
    if head.isupper() and len(head) > 1:
        score -= 2.0  # an acronym or a shouted word (HTTP 500, URGENT)
    return score


def _product_mentions(text: str) -> Iterator[re.Match[str]]:
    """Product-shaped matches; one that opens with a common word ("The Aeropress X2") is matched
    again from the word after it."""
    for match in _PRODUCT_RE.finditer(text):
        if match.group(1).lower() in _COMMON_OPENERS and match.group(2):
            again = _PRODUCT_RE.match(text, match.start(2) + 1)
            if again is not None:
                yield again
                continue
        yield match


def _product_candidates(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for match in _product_mentions(text):
        head, model = match.group(1), match.group(2)
        nouns = []
        for word in match.group(3).split():
            if word in _FUNCTION_WORDS or word in _GENERIC_NOUNS:
                break
            nouns.append(word)
        value = " ".join(part for part in (head + model, " ".join(nouns)) if part)
        if head.lower() in _COMMON_OPENERS or _EMAIL_RE.search(value):
            continue
        score = _product_score(text, match, value, bool(nouns))
        if score > 0:  # a product needs some evidence: a model number, camel case, a repeat, its nouns
            found.append(Candidate(value, match.start(), score))
    return found


# -- all kinds --------------------------------------------------------------------------


def _dedupe(candidates: list[Candidate]) -> list[Candidate]:
    best: dict[str, Candidate] = {}
    for cand in candidates:
        key = normalise(cand.value)
        if key and (key not in best or cand.score > best[key].score):
            best[key] = cand
    return list(best.values())


def _spans(text: str, kind: Kind, hint: str) -> list[Candidate]:
    if kind == "date":
        found = [Candidate(c.value, c.start, 1.0 if parse_date(c.value) else 0.0) for c in _matches(_DATE_RE, text)]
        # the first date on a document is usually its date
        return [Candidate(c.value, c.start, c.score - 0.001 * i) for i, c in enumerate(found)]
    if kind == "number":
        return [Candidate(c.value, c.start, 0.0) for c in _matches(_NUMBER_RE, text)]
    if kind == "email":
        return _matches(_EMAIL_RE, text)
    if kind == "phone":
        return [c for c in _matches(_PHONE_RE, text) if sum(ch.isdigit() for ch in c.value) >= 7]
    if kind == "id":
        return _id_candidates(text, hint)
    if kind == "name":
        lines = [Candidate(c.value, c.start, -0.5) for c in _line_candidates(text)[:5]]
        return [*_person_candidates(text), *lines]
    finders = {
        "money": _money_candidates,
        "currency": _currency_candidates,
        "company": _company_candidates,
        "address": _address_candidates,
        "product": _product_candidates,
    }
    finder = finders.get(kind, _line_candidates)
    return finder(text)


def find_candidates(text: str, kind: Kind, *, limit: int = 8, hint: str = "") -> list[Candidate]:
    """Spans of ``text`` that could fill a field of ``kind``, best first, at most ``limit``.

    ``hint`` (the field's name and description) lets a field ask for one kind of identifier
    over another: ``customer_id`` takes a ``Customer ID:`` value that an order number would not.
    """
    found = [c for c in _spans(text, kind, hint) if c.score > UNLIKELY]
    ranked = sorted(_dedupe(found), key=lambda c: (-c.score, c.start))
    return ranked[:limit]


def valid_for_kind(value: Any, kind: Kind) -> bool:
    """Whether ``value`` has the shape its kind needs (dates parse, amounts are numbers, ...)."""
    if value is None:
        return True
    if kind == "date":
        return parse_date(str(value)) is not None
    if kind in ("money", "number"):
        return parse_amount(value) is not None
    if kind == "currency":
        written = str(value).strip()
        return written.upper() in CURRENCY_CODES or written.upper() in _CURRENCY_SIGNS
    if kind == "email":
        return _EMAIL_RE.fullmatch(str(value).strip()) is not None
    if kind == "phone":
        return sum(ch.isdigit() for ch in str(value)) >= 7
    return bool(str(value).strip())


__all__ = ["CURRENCY_CODES", "UNLIKELY", "Candidate", "Kind", "find_candidates", "infer_kind", "valid_for_kind"]
