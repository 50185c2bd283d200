"""Deterministic tools a plan step can name: chunking, PII redaction, field normalisation,
JSON validation, routing, joining texts and flagging injected instructions.

Tools run without a model; the planner reads each tool's ``description`` and
input schema. :func:`redact` is also used on its own, before text leaves for a
model that is not local.
"""

from orchestrator.tools.chunking import ChunkText
from orchestrator.tools.combine import JoinTexts
from orchestrator.tools.injection import FlagInjection, flag_injection
from orchestrator.tools.normalize import NormalizeFields
from orchestrator.tools.pii import Redaction, RedactPII, redact
from orchestrator.tools.routing import RouteTicket
from orchestrator.tools.validation import ValidateJSON

__all__ = [
    "ChunkText",
    "FlagInjection",
    "JoinTexts",
    "NormalizeFields",
    "RedactPII",
    "Redaction",
    "RouteTicket",
    "ValidateJSON",
    "flag_injection",
    "redact",
]
