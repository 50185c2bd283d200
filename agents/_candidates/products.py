"""Products: the ``product`` kind (``Aeropress X2``, ``Fieldnote desktop app``, ``Billing API``).

A product mention is a brand-like word (capitalised or camel-case), optional
model tokens, then at most two lowercase nouns. It needs some evidence to be
offered: a model number, camel case, an acronym model, a repeat or its nouns;
an order code, a person's name, a field label or a shouted word is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from orchestrator.agents._candidates.patterns import COMMON_OPENERS, EMAIL_RE, NAME_RE
from orchestrator.agents._candidates.spans import UNLIKELY, Candidate

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
_CODE = re.compile(r"[A-Z]{2,}[-/#]\d[\w\-/]*")


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def _evidence_for(text: str, match: re.Match[str], has_nouns: bool) -> float:
    """What makes a mention a product: a model number, camel case, an acronym model, repeats."""
    head, model = match.group(1), match.group(2)
    score = 1.0 + (1.0 if _has_digit(model) else 0.0)
    score += 0.5 if any(ch.isupper() for ch in head[1:]) else 0.0
    score += 0.5 if re.search(r"\b[A-Z]{2,}\b", model) and not _has_digit(model) else 0.0  # API
    repeats = text.count(head + model) - 1
    score += 0.5 * min(repeats, 2)
    if has_nouns and repeats > 0:
        score += 0.5  # the full name of a brand the text mentions again ("Fieldnote desktop app")
    return score


def _opens_a_sentence(text: str, match: re.Match[str]) -> bool:
    """Whether the mention starts a text, a sentence or a paragraph (hard-wrapped lines do not)."""
    gap_start = len(text[: match.start()].rstrip())
    before, paragraph = text[:gap_start], "\n\n" in text[gap_start : match.start()]
    return not before or before[-1] in ".!?:" or paragraph


def _evidence_against(text: str, match: re.Match[str], value: str, has_nouns: bool) -> float:
    """What makes a mention something else: a lone word, a person's name, grammar, a field label."""
    head, model = match.group(1), match.group(2)
    penalty = 0.0
    if not model and not has_nouns and NAME_RE.fullmatch(value) is None:
        penalty += 0.5  # a lone capitalised word is weak evidence
    if NAME_RE.fullmatch(value) and not _has_digit(value):
        penalty += 1.0  # looks like a person's name
    if _opens_a_sentence(text, match) and not _has_digit(model) and not any(ch.isupper() for ch in head[1:]):
        penalty += 0.5  # sentence-initial capitals are grammar, not a brand
    if text[match.end() : match.end() + 2].lstrip().startswith(":"):
        penalty += 1.0  # a field label ("Merchant account:", "Contact:")
    return penalty


def _product_score(text: str, match: re.Match[str], value: str, has_nouns: bool) -> float:
    if _CODE.fullmatch(value):
        return UNLIKELY  # an order, ticket or invoice number is not a product (ORD-48213, INV/2024/7)
    head = match.group(1)
    score = _evidence_for(text, match, has_nouns) - _evidence_against(text, match, value, has_nouns)
    if head.isupper() and len(head) > 1:
        score -= 2.0  # an acronym or a shouted word (HTTP 500, URGENT)
    return score


def _product_mentions(text: str) -> Iterator[re.Match[str]]:
    """Product-shaped matches; one that opens with a common word ("The Aeropress X2") is matched
    again from the word after it."""
    for match in _PRODUCT_RE.finditer(text):
        if match.group(1).lower() in COMMON_OPENERS and match.group(2):
            again = _PRODUCT_RE.match(text, match.start(2) + 1)
            if again is not None:
                yield again
                continue
        yield match


def _nouns(words: str) -> list[str]:
    """The lowercase words after a mention that belong to its name (up to a function word)."""
    nouns = []
    for word in words.split():
        if word in _FUNCTION_WORDS or word in _GENERIC_NOUNS:
            break
        nouns.append(word)
    return nouns


def product_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Product mentions with some evidence (a model number, camel case, a repeat, its nouns)."""
    found: list[Candidate] = []
    for match in _product_mentions(text):
        head, model = match.group(1), match.group(2)
        nouns = _nouns(match.group(3))
        value = " ".join(part for part in (head + model, " ".join(nouns)) if part)
        if head.lower() in COMMON_OPENERS or EMAIL_RE.search(value):
            continue
        score = _product_score(text, match, value, bool(nouns))
        if score > 0:  # a product needs some evidence: a model number, camel case, a repeat, its nouns
            found.append(Candidate(value, match.start(), score))
    return found


__all__ = ["product_candidates"]
