"""The jobs API, the catalog, the health check and the web chat page."""

from __future__ import annotations

import re
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from orchestrator.errors import JobError, StoreError
from orchestrator.interfaces.chat import has_planner
from orchestrator.interfaces.http.auth import KeyedRoute, QueryKeyedRoute
from orchestrator.interfaces.http.backends import JobBackend
from orchestrator.interfaces.http.errors import ApiError, error_response
from orchestrator.interfaces.http.schemas import (
    AgentList,
    ErrorResponse,
    Health,
    InputInfo,
    JobAccepted,
    JobInfo,
    JobRequest,
    WorkflowInfo,
    WorkflowList,
)
from orchestrator.interfaces.http.sse import SSE_HEADERS, follow_job
from orchestrator.queue import Job

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 408, 413, 422)
}

api = APIRouter(prefix="/v1", responses=_ERRORS, route_class=KeyedRoute)
streams = APIRouter(prefix="/v1", responses=_ERRORS, route_class=QueryKeyedRoute)
"""Event streams: EventSource cannot send headers, so these also take ``?api_key=``."""
public = APIRouter()


_CURSOR = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")
"""An event id as the stores write them: ``<n>`` (in memory) or ``<ms>-<seq>`` (Redis)."""
_CURSOR_FORMS = {"memory": "a number"}
_MAX_ID = 2**64 - 1


def event_cursor(jobs: JobBackend, value: str | None) -> str | None:
    """A resume cursor (``Last-Event-ID`` or ``?after=``) checked before the stream starts: a
    malformed one is a 422 rather than a stream that breaks after its first line."""
    if value is None or value == "":
        return None
    match = _CURSOR.fullmatch(value.strip())
    memory = jobs.name == "memory"
    if (match is None or (memory and match.group(2) is not None)
            or any(int(part) > _MAX_ID for part in match.groups() if part is not None)):
        form = _CURSOR_FORMS.get(jobs.name, "'<milliseconds>-<sequence>' (or a number)")
        raise ApiError(422, "invalid_cursor", f"the event id to resume after must be {form}, as sent in the "
                       "'id:' lines of this stream; leave it out to start from the first event")
    return match.group(0)


def backend(request: Request) -> JobBackend:
    jobs: JobBackend = request.app.state.jobs
    return jobs


async def _job(jobs: JobBackend, job_id: str) -> Job:
    try:
        return await jobs.status(job_id)
    except JobError:
        raise ApiError(404, "not_found", f"no job {job_id!r}") from None


# -- jobs ----------------------------------------------------------------------------------


@api.post("/jobs", status_code=202, response_model=JobAccepted, summary="Submit a workflow or a free-form task",
          responses={409: {"model": ErrorResponse, "description": "The idempotency key was used for other work"}})
async def submit_job(body: JobRequest, request: Request) -> JSONResponse:
    orchestrator = request.app.state.orchestrator
    # what Orchestrator.submit refuses, refused the same way (a UserError: a 4xx with its reason)
    inputs, given = orchestrator.check_submission(body.target, body.inputs, body.sensitivity)
    jobs = backend(request)
    job_id = await jobs.submit(body.target, inputs, sensitivity=given or None, idempotency_key=body.idempotency_key)
    job = await jobs.status(job_id)
    return JSONResponse(JobAccepted(job_id=job_id, status=job.status).model_dump(), status_code=202,
                        headers={"Location": f"/v1/jobs/{job_id}"})


@api.get("/jobs/{job_id}", response_model=JobInfo, summary="A job's status, and its result when done")
async def get_job(job_id: str, request: Request) -> JobInfo:
    jobs = backend(request)
    job = await _job(jobs, job_id)
    return JobInfo.of(job, await jobs.run_record(job_id) if job.finished else None)


@api.delete("/jobs/{job_id}", response_model=JobInfo, summary="Cancel a job")
async def cancel_job(job_id: str, request: Request) -> JobInfo:
    jobs = backend(request)
    await _job(jobs, job_id)
    job = await jobs.cancel(job_id)
    return JobInfo.of(job, await jobs.run_record(job_id) if job.finished else None)


@streams.get("/jobs/{job_id}/events", response_class=StreamingResponse,
         responses={200: {"content": {"text/event-stream": {}},
                          "description": "The run's events as server-sent events, live, "
                                         "ending with run.finished or run.failed"}},
         summary="Follow a job's events (SSE)")
async def job_events(
    job_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[str | None, Query(description="resume after this event id")] = None,
    api_key: Annotated[str | None, Query(description="the API key, for EventSource only")] = None,
) -> StreamingResponse:
    jobs = backend(request)
    cursor = event_cursor(jobs, last_event_id or after)
    await _job(jobs, job_id)
    return StreamingResponse(follow_job(jobs, job_id, cursor), media_type="text/event-stream",
                             headers=SSE_HEADERS)


# -- catalog -------------------------------------------------------------------------------


@api.get("/agents", response_model=AgentList, summary="The registered specialists and tools")
async def list_agents(request: Request) -> AgentList:
    registry = request.app.state.orchestrator.registry
    return AgentList(agents=[info.model_dump(mode="json") for info in registry.catalog()])


@api.get("/workflows", response_model=WorkflowList, summary="The registered workflows and their inputs")
async def list_workflows(request: Request) -> WorkflowList:
    orchestrator = request.app.state.orchestrator
    return WorkflowList(
        workflows=[WorkflowInfo(name=w.name, description=w.description, inputs={
            name: InputInfo(type=spec.type.__name__, description=spec.description, required=spec.required,
                            sensitivity=spec.sensitivity)
            for name, spec in w.inputs.items()}) for w in orchestrator.registry.workflows()],
        planner=has_planner(orchestrator),  # a planner model, or the task router for free-form messages
    )


# -- health and the web page ------------------------------------------------------------------


@public.get("/healthz", response_model=Health, responses={503: {"model": ErrorResponse}},
            summary="Liveness, and whether the store is reachable")
async def healthz(request: Request) -> Response:
    jobs = backend(request)
    try:
        await jobs.ping()
    except StoreError as exc:
        return error_response(503, "store_unavailable", str(exc))
    return JSONResponse(Health(status="ok", store=jobs.name).model_dump())


@public.get("/", response_class=HTMLResponse, include_in_schema=False)
async def web_chat() -> HTMLResponse:
    page = resources.files("orchestrator.interfaces") / "web" / "index.html"
    return HTMLResponse(page.read_text("utf-8"), headers={"Cache-Control": "no-cache"})


__all__ = ["api", "public", "streams"]
