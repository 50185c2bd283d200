"""The orchestrator as an OpenAI-compatible "model": ``/v1/chat/completions`` and ``/v1/models``.

Model ``orchestrator`` plans the last user message as a free-form task (or runs a workflow when
the message starts with ``<workflow>: ``), with the earlier messages as the ``history`` input;
model ``workflow:<name>`` runs that workflow with the last user message as its input. Jobs
go through the same backend as ``POST /v1/jobs``. Set ``"progress": true`` in the request
body to receive each plan and step event as a line while streaming (off by default): the lines
come in the chunks' ``delta.progress`` field, never in ``delta.content``, so the assistant's
message is the answer alone (clients that do not know the field ignore it; the official
``openai`` client shows it in ``delta.model_extra["progress"]``). The content streams as it
is generated when the answer is one generative text (see
:mod:`~orchestrator.interfaces.http.answer_stream`), else it comes whole when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.interfaces.chat import describe_event, has_planner, parse_message, render_answer, workflow_inputs
from orchestrator.interfaces.http.answer_stream import AnswerStream
from orchestrator.interfaces.http.auth import KeyedRoute
from orchestrator.interfaces.http.backends import JobBackend, check_target, outcome, settled
from orchestrator.interfaces.http.errors import ApiError, error_body
from orchestrator.interfaces.http.schemas import CheckedBody, ErrorResponse
from orchestrator.interfaces.http.sse import SSE_HEADERS
from orchestrator.logging import get_logger
from orchestrator.types import Event, RunResult

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator

log = get_logger(__name__)

ORCHESTRATOR_MODEL = "orchestrator"
WORKFLOW_PREFIX = "workflow:"
CHUNK_CHARS = 48
OWNER = "slm-orchestrator"

router = APIRouter(prefix="/v1", route_class=KeyedRoute,
                   responses={code: {"model": ErrorResponse} for code in (400, 401, 404, 408, 413, 422)})


class Message(BaseModel):
    """A chat message; content as text or as OpenAI content parts."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(CheckedBody):
    """The subset of the OpenAI request the orchestrator uses; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    progress: bool = False
    """Extension: while streaming, send a line per plan and step event in ``delta.progress``."""


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = OWNER


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def model_ids(orchestrator: Orchestrator) -> list[str]:
    """``orchestrator`` plus ``workflow:<name>`` per workflow."""
    return [ORCHESTRATOR_MODEL, *(WORKFLOW_PREFIX + name for name in orchestrator.registry.workflow_names)]


def _turn(orchestrator: Orchestrator, body: ChatCompletionRequest) -> tuple[str, dict[str, Any]]:
    """The target and inputs a request asks for."""
    users = [i for i, m in enumerate(body.messages) if m.role == "user"]
    if not users:
        raise ApiError(422, "invalid_request", "messages: no user message to answer")
    last = users[-1]
    text = body.messages[last].text
    history = [{"role": m.role, "content": m.text} for m in body.messages[:last] if m.text]
    registry = orchestrator.registry
    if body.model == ORCHESTRATOR_MODEL:
        turn = parse_message(text, registry, planner=has_planner(orchestrator), history=history)
        return turn.target, turn.inputs
    name = body.model.removeprefix(WORKFLOW_PREFIX)
    if not body.model.startswith(WORKFLOW_PREFIX) or name not in registry.workflow_names:
        raise ApiError(404, "model_not_found",
                       f"unknown model {body.model!r}; models: {', '.join(model_ids(orchestrator))}")
    return name, workflow_inputs(registry.workflow(name), text)


@router.get("/models", response_model=ModelList, summary="The orchestrator and its workflows as models")
async def list_models(request: Request) -> ModelList:
    return ModelList(data=[ModelCard(id=i) for i in model_ids(request.app.state.orchestrator)])


@router.get("/models/{model_id:path}", response_model=ModelCard, summary="One model")
async def get_model(model_id: str, request: Request) -> ModelCard:
    if model_id not in model_ids(request.app.state.orchestrator):
        raise ApiError(404, "model_not_found", f"unknown model {model_id!r}")
    return ModelCard(id=model_id)


@router.post("/chat/completions", summary="OpenAI-compatible chat completion (streaming too)",
             responses={200: {"content": {"text/event-stream": {}}}}, response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> dict[str, Any] | StreamingResponse:
    orchestrator: Orchestrator = request.app.state.orchestrator
    jobs: JobBackend = request.app.state.jobs
    target, inputs = _turn(orchestrator, body)
    check_target(orchestrator, target, inputs)
    orchestrator.check_task(target)  # the message is the task: confidential text needs a local planner
    job_id = await jobs.submit(target, inputs)
    log.info("openai.completion", job_id=job_id, model=body.model, stream=body.stream)
    if body.stream:
        return StreamingResponse(_stream(jobs, job_id, body), media_type="text/event-stream", headers=SSE_HEADERS)
    result = await _wait(jobs, job_id)
    if not result.ok:
        raise ApiError(422, "run_failed", f"the run {result.status}: {result.error or 'no reason given'}")
    return {
        "id": f"chatcmpl-{job_id}", "object": "chat.completion", "created": int(time.time()),
        "model": body.model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": render_answer(result.answer)}}],
        "usage": _usage(result),
        "orchestrator": {"job_id": job_id, "run_id": result.run_id, "planned_by": result.planned_by,
                         "cost": result.cost.model_dump(mode="json")},
    }


def _usage(result: RunResult) -> dict[str, int]:
    usage = result.cost.usage
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens}


async def _wait(jobs: JobBackend, job_id: str, on_event: Callable[[Event], None] | None = None) -> RunResult:
    """Follow the job to its terminal event (cancelling it if the client goes away)."""
    try:
        async for _, event in jobs.events(job_id, follow=True):
            if on_event is not None:
                on_event(event)
            if event.terminal:
                break
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(jobs.cancel(job_id))
        raise
    return await outcome(jobs, await settled(jobs, job_id))


def _chunk(job_id: str, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    payload = {"id": f"chatcmpl-{job_id}", "object": "chat.completion.chunk", "created": int(time.time()),
               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _pieces(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """``text`` in pieces of about ``size`` characters, split after whitespace."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space + 1 if space > start else end
        pieces.append(text[start:end])
        start = end
    return pieces


async def _stream(jobs: JobBackend, job_id: str, body: ChatCompletionRequest) -> AsyncIterator[str]:
    model = body.model
    yield _chunk(job_id, model, {"role": "assistant", "content": ""})
    deltas: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    answer = AnswerStream()

    def on_event(event: Event) -> None:
        if body.progress and (line := describe_event(event)) is not None:
            deltas.put_nowait({"progress": line.strip() + "\n"})  # not the assistant's content
        if piece := answer.feed(event):
            deltas.put_nowait({"content": piece})

    waiter = asyncio.create_task(_wait(jobs, job_id, on_event))
    try:
        while not (waiter.done() and deltas.empty()):
            getter = asyncio.create_task(deltas.get())
            await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield _chunk(job_id, model, getter.result())
            else:
                getter.cancel()
        result = waiter.result()
    finally:
        if not waiter.done():
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
    if not result.ok:
        error = error_body("run_failed", f"the run {result.status}: {result.error or 'no reason given'}")
        yield f"data: {json.dumps(error)}\n\n"
        yield "data: [DONE]\n\n"
        return
    for piece in _pieces(answer.rest(render_answer(result.answer))):
        yield _chunk(job_id, model, {"content": piece})
    yield _chunk(job_id, model, {}, "stop")
    if (body.stream_options or {}).get("include_usage"):
        usage = {"id": f"chatcmpl-{job_id}", "object": "chat.completion.chunk", "created": int(time.time()),
                 "model": model, "choices": [], "usage": _usage(result)}
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"


__all__ = ["ORCHESTRATOR_MODEL", "WORKFLOW_PREFIX", "ChatCompletionRequest", "model_ids", "router"]
