"""Scripted answers for the install tests: model factories (``ref = "python:plain_models:local"``), and
the same answers as an Ollama or OpenAI server sends them.

Copied next to a fresh venv and imported by the installed package, so it needs nothing but
``orchestrator``: no pytest, nothing from the repository's ``tests`` package.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.models import FunctionModel, Message, ModelCall, ModelSpec

CUES = [("refund", "refund"), ("second time i am writing", "high"), ("charged", "billing")]
"""(phrase in the ticket, label it means), first match wins among the labels offered."""
PATTERNS = {"email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "order_number": r"\bORD-\d+\b"}
"""How the extractor's fields are found in the ticket; the others are null."""


def _ticket(call: ModelCall) -> str:
    return call.last_user.rsplit("Text:", 1)[-1]


def answer(call: ModelCall) -> Any:
    """A label from cues, fields copied from the text (or null), a one-line summary."""
    ticket = _ticket(call)
    fields = (call.schema or {}).get("properties", {})
    if "label" in fields:
        offered = fields["label"]["enum"]
        cued = [label for phrase, label in CUES if phrase in ticket.lower() and label in offered]
        return {"label": (cued or offered)[0]}
    if "summary" in fields:
        return {"summary": "The customer asks when the refund for a returned grinder will be paid."}
    if fields:
        found = {name: re.search(pattern, ticket) for name, pattern in PATTERNS.items()}
        return {name: match.group(0) if (match := found.get(name)) else None for name in fields}
    return "The customer asks when the refund for a returned grinder will be paid."


def wire_reply(api: str, body: dict[str, Any]) -> dict[str, Any]:
    """What an Ollama (``/api/chat``) or OpenAI (``/v1/chat/completions``) server answers to ``body``."""
    if api == "openai":
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
    else:
        schema = body.get("format") if isinstance(body.get("format"), dict) else None
    messages = tuple(Message(role=m["role"], content=m["content"]) for m in body["messages"])
    reply = answer(ModelCall(messages=messages, schema=schema, max_tokens=None))
    content = reply if isinstance(reply, str) else json.dumps(reply)
    if api == "openai":
        return {"id": "chatcmpl-install", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132}}
    return {"model": body["model"], "created_at": "2025-06-12T09:41:27Z", "done": True, "done_reason": "stop",
            "message": {"role": "assistant", "content": content}, "prompt_eval_count": 120, "eval_count": 12}


def wire_stream(api: str, reply: dict[str, Any], pieces: int = 3) -> str:
    """``reply`` (a :func:`wire_reply`) as the server streams it when asked ``"stream": true``:
    OpenAI's server-sent events (usage in a last chunk, then ``[DONE]``), Ollama's JSON lines."""
    content = reply["choices"][0]["message"]["content"] if api == "openai" else reply["message"]["content"]
    size = max(1, -(-len(content) // pieces))
    parts = [content[i:i + size] for i in range(0, len(content), size)] or [""]
    if api == "openai":
        head = {k: reply[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
        chunks = [head | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": part},
                                       "finish_reason": None}]} for part in parts]
        chunks.append(head | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        chunks.append(head | {"choices": [], "usage": reply["usage"]})
        return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
    lines = [{"model": reply["model"], "created_at": reply["created_at"], "done": False,
              "message": {"role": "assistant", "content": part}} for part in parts]
    lines.append(reply | {"message": {"role": "assistant", "content": ""}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def local(spec: ModelSpec) -> FunctionModel:
    """Stands for the profile's Ollama models."""
    return FunctionModel(answer, ref=spec.ref, local=True)


def cloud(spec: ModelSpec) -> FunctionModel:
    """Stands for an OpenAI model (not local)."""
    return FunctionModel(answer, ref=spec.ref, local=False)
