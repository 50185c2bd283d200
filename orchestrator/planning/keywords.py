"""Task keywords: the normalised words that say what a request asks for.

Both tiers of local planning read a request through :func:`keywords`: lower-cased word
tokens without filler ("please", "can you", "this"), crudely stemmed, and with synonyms
folded into one canonical term (``summarize``, ``summary``, ``sum up`` -> ``summar``), so
paraphrases of one request share one keyword set while a request for another output or
another document keeps its distinguishing word. :data:`INTENT_TERMS` are the words that
name an output or a document type: a workflow or cached plan that does not know such a
word of a request must not answer it (the wrong-reuse guard).

:func:`split_request` separates a chat message's request from its payload
("triage this: <ticket>"): only the request is ever read for routing and cache keys.
"""

from __future__ import annotations

import re

__all__ = ["INTENT_TERMS", "keywords", "split_request"]

_WORD = re.compile(r"[a-z][a-z0-9']*")
_SPLIT = re.compile(r"^(?P<request>[^:\n]{1,200}?)\s*(?::|\n)\s*(?P<payload>\S.*)$", re.DOTALL)

_STOPWORDS = frozenset("""
a an the this that these those it its it's me my mine i i'm we our us you your yours he she they them their
please pls kindly can could would will shall should may might must do does did done doing be is are was were
been being have has had having get got give gives giving tell show let make want need like just also then
so and or but if of to for in on at by with from into onto about as up out over any some all each every
what which who whom whose how when where why there here now quick quickly briefly help hi hello hey thanks
thank ok okay one two short little bit attached following below above again new given see look text say says said write
""".split())

_SYNONYMS: dict[str, str] = {
    # summarising
    "summarize": "summar", "summarise": "summar", "summary": "summar", "summaries": "summar",
    "summarized": "summar", "summarised": "summar", "digest": "summar", "gist": "summar", "recap": "summar",
    "tldr": "summar", "overview": "summar", "condense": "summar", "synopsis": "summar", "brief": "summar",
    "highlights": "summar", "sum": "summar", "points": "point", "takeaways": "point", "takeaway": "point",
    # tickets and triage
    "triage": "triag", "triaged": "triag", "classify": "classif", "categorize": "classif",
    "categorise": "classif", "category": "classif", "categories": "classif", "route": "rout",
    "routing": "rout", "dispatch": "rout", "assign": "rout", "team": "rout", "queue": "rout",
    "ticket": "ticket", "tickets": "ticket", "complaint": "ticket",
    "urgency": "urgen", "urgent": "urgen", "priority": "urgen", "prioritize": "urgen", "prioritise": "urgen",
    "customer": "customer", "customers": "customer", "client": "customer",
    # receipts and invoices
    "receipt": "receipt", "receipts": "receipt", "invoice": "receipt", "invoices": "receipt",
    "bill": "receipt", "bills": "receipt", "extract": "extract", "pull": "extract", "read": "extract",
    "total": "total", "amount": "total", "paid": "total", "owed": "total", "owe": "total", "due": "total",
    "vendor": "vendor", "merchant": "vendor", "shop": "vendor", "store": "vendor", "seller": "vendor",
    "fields": "field", "field": "field", "details": "field",
    # documents
    "report": "document", "reports": "document", "document": "document", "documents": "document",
    "doc": "document", "article": "document", "paper": "document", "memo": "document",
    "file": "document", "writeup": "document",
    "risks": "risk", "risk": "risk", "dangers": "risk", "threats": "risk", "concerns": "risk",
    "issues": "risk", "problems": "risk",
    # other outputs (what distractors ask for)
    "translate": "translat", "translation": "translat", "language": "language", "languages": "language",
    "reply": "reply", "respond": "reply", "response": "reply",
    "answer": "reply", "draft": "draft", "compose": "draft",
    "sentiment": "sentiment", "tone": "sentiment", "mood": "sentiment", "redact": "redact",
    "anonymize": "redact", "anonymise": "redact", "pii": "redact", "personal": "redact",
    "email": "email", "emails": "email", "mail": "email", "message": "email",
    "contract": "contract", "contracts": "contract", "agreement": "contract",
    "clauses": "clause", "clause": "clause", "obligations": "clause", "terms": "clause",
    "chat": "dialogue", "conversation": "dialogue", "dialogue": "dialogue", "transcript": "dialogue",
    "meeting": "dialogue", "call": "dialogue", "minutes": "dialogue",
    "actions": "action", "action": "action", "todo": "action", "todos": "action", "tasks": "action",
    "names": "entity", "people": "entity", "entities": "entity", "dates": "entity",
    "count": "count", "words": "count", "length": "count", "chunks": "count",
    "headline": "headline", "title": "headline", "sentence": "sentence",
    "tag": "tag", "tags": "tag", "topic": "tag", "topics": "tag", "keyword": "tag", "keywords": "tag",
    "review": "review", "reviews": "review", "spam": "spam", "junk": "spam",
    "compare": "compar", "comparison": "compar", "difference": "compar", "differences": "compar",
    "main": "key", "key": "key", "important": "key", "top": "key", "major": "key", "biggest": "key",
}

INTENT_TERMS = frozenset({
    "summar", "triag", "classif", "rout", "urgen", "extract", "total", "vendor", "field", "risk",
    "translat", "language", "reply", "draft", "sentiment", "redact", "action", "entity", "count",
    "headline", "compar", "clause", "ticket", "receipt", "document", "email", "contract", "dialogue",
    "tag", "review", "spam", "english", "french", "german", "spanish", "italian", "dutch", "portuguese",
})
"""Canonical terms naming an output or a document type: a request's intent words."""

_SUFFIXES = ("ations", "ation", "ings", "ing", "ness", "ies", "ed", "es", "s")


def _stem(word: str) -> str:
    if word in _SYNONYMS:
        return _SYNONYMS[word]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            base = word[: -len(suffix)]
            return _SYNONYMS.get(base, base)
    return word


def keywords(text: str) -> frozenset[str]:
    """The request's canonical keywords (filler words removed, synonyms folded)."""
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    return frozenset(_stem(w.removesuffix("'s")) for w in words if w not in _STOPWORDS and len(w) > 1)


def split_request(message: str) -> tuple[str, str | None]:
    """``(request, payload)`` of a message: ``"triage this: <ticket>"`` -> ``("triage this", "<ticket>")``.

    A message with no short lead-in before a colon or a line break is all request (payload None).
    """
    match = _SPLIT.match(message.strip())
    if match is None or len(match.group("request").split()) > 16:
        return message.strip(), None
    return match.group("request").strip(), match.group("payload").strip()
