"""Conversation threads over HTTP: the web chat's memory, shared with ``orchestrator chat``.

``POST /v1/threads/{thread_id}/messages`` runs one message as the terminal chat would (a
workflow, or a free-form task with the thread's earlier turns as its ``history`` input) as a
job of the same backend as ``POST /v1/jobs``; follow it on ``/v1/jobs/{job_id}/events``.
``GET /v1/threads/{thread_id}`` returns the conversation. The client picks the thread id (the
web page makes one per conversation); it is the id ``orchestrator chat --thread`` resumes, as
messages live in the job backend's store (Redis when configured).

A question is recorded when its job is submitted, with the job's run id (each job runs under
its own id). Its answer is recorded from the job's outcome when the thread is next read, so
no server process waits on a job that may run on any worker. A thread answers one message at
a time: a message sent while the previous one runs waits ``REPLY_WAIT_SECONDS`` for it, then
gets 409.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from orchestrator.errors import JobError
from orchestrator.interfaces.chat import HISTORY_TURNS, has_planner, history_context, parse_message, reply_message
from orchestrator.interfaces.http.auth import KeyedRoute
from orchestrator.interfaces.http.backends import JobBackend, check_target, outcome, settled
from orchestrator.interfaces.http.errors import ApiError
from orchestrator.interfaces.http.schemas import ErrorResponse, ThreadInfo, ThreadMessage, ThreadMessageAccepted
from orchestrator.logging import get_logger
from orchestrator.queue import Job
from orchestrator.store import ChatMessage

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator

log = get_logger(__name__)

REPLY_WAIT_SECONDS = 2.0
"""How long a new message waits for the job answering the previous one before a 409."""

THREAD_ID_PATTERN = r"^[A-Za-z0-9][\w.:-]{0,127}$"
"""A thread id, and a conversation id sent in ``X-Conversation-Id``: letters, digits and ``_ . : -``."""

ThreadId = Annotated[str, Path(pattern=THREAD_ID_PATTERN,
                               description="chosen by the client; letters, digits and _ . : -")]

router = APIRouter(prefix="/v1/threads", route_class=KeyedRoute,
                   responses={code: {"model": ErrorResponse} for code in (400, 401, 404, 408, 409, 413, 422)})


class Threads:
    """Conversation threads kept in the store of a job backend."""

    def __init__(self, orchestrator: Orchestrator, jobs: JobBackend):
        self.orchestrator = orchestrator
        self.jobs = jobs
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def read(self, thread_id: str, limit: int) -> tuple[list[ChatMessage], Job | None]:
        """The last ``limit`` messages, and the job still answering the last one (if any)."""
        async with self._lock(thread_id):
            return await self._settle(thread_id, await self.jobs.store.history(thread_id, limit), wait=0.0)

    async def send(self, thread_id: str, message: ThreadMessage) -> Job:
        """Record ``message`` and submit the job that answers it."""
        orchestrator = self.orchestrator
        async with self._lock(thread_id):
            past, pending = await self._settle(thread_id, await self.jobs.store.history(thread_id, HISTORY_TURNS),
                                               wait=REPLY_WAIT_SECONDS)
            if pending is not None:
                raise ApiError(409, "thread_busy", f"thread {thread_id!r} is still answering its last message "
                               f"(job {pending.id}): follow /v1/jobs/{pending.id}/events, or cancel it")
            turn = parse_message(message.message, orchestrator.registry, planner=has_planner(orchestrator),
                                 history=history_context(past[-HISTORY_TURNS:]), workflow=message.workflow)
            check_target(orchestrator, turn.target, turn.inputs)
            orchestrator.check_task(turn.target)  # the message is the task
            job = await self.jobs.status(await self.jobs.submit(turn.target, turn.inputs))
            text = f"{turn.workflow}: {message.message}" if message.workflow else message.message
            await self.jobs.store.append_message(thread_id, ChatMessage(role="user", content=text, run_id=job.run_id))
        log.info("thread.message", thread_id=thread_id, job_id=job.id, workflow=turn.workflow, history=len(past))
        return job

    def _lock(self, thread_id: str) -> asyncio.Lock:
        """Serialises this process's writes to one thread (so a reply is never recorded twice)."""
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = self._locks[thread_id] = asyncio.Lock()
        return lock

    async def _settle(self, thread_id: str, past: list[ChatMessage],
                      wait: float) -> tuple[list[ChatMessage], Job | None]:
        """Record the answer to the last message if its job has finished; else return that job."""
        last = past[-1] if past else None
        if last is None or last.role != "user" or last.run_id is None:
            return past, None
        try:
            job = await settled(self.jobs, last.run_id, wait)
        except JobError:  # the job's record expired: the question stays unanswered
            return past, None
        if not job.finished:
            return past, job
        reply = reply_message(await outcome(self.jobs, job))
        await self.jobs.store.append_message(thread_id, reply)
        return [*past, reply], None


def _threads(request: Request) -> Threads:
    threads: Threads = request.app.state.threads
    return threads


@router.post("/{thread_id}/messages", status_code=202, response_model=ThreadMessageAccepted,
             summary="Send a chat message in a thread (earlier turns are its context)")
async def post_message(thread_id: ThreadId, body: ThreadMessage, request: Request) -> JSONResponse:
    job = await _threads(request).send(thread_id, body)
    accepted = ThreadMessageAccepted(thread_id=thread_id, job_id=job.id, status=job.status)
    return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@router.get("/{thread_id}", response_model=ThreadInfo, summary="A thread's messages, oldest first")
async def get_thread(thread_id: ThreadId, request: Request,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> ThreadInfo:
    messages, pending = await _threads(request).read(thread_id, limit)
    if not messages:
        raise ApiError(404, "not_found", f"no thread {thread_id!r}")
    return ThreadInfo(thread_id=thread_id, messages=messages, pending_job_id=pending.id if pending else None)


__all__ = ["REPLY_WAIT_SECONDS", "THREAD_ID_PATTERN", "Threads", "router"]
