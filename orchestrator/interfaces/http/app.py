"""The FastAPI application: jobs, chat threads, the OpenAI-compatible endpoint, SSE and the web chat.

::

    app = create_app(orchestrator, settings)      # uvicorn.run(app) or httpx.ASGITransport(app)

Jobs go to the Redis queue when ``settings.redis_url`` is set (``workers`` > 0 also runs that
many queue workers inside the server), else they run as background tasks of the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from orchestrator.interfaces.http import observability
from orchestrator.interfaces.http.auth import ApiKeys
from orchestrator.interfaces.http.backends import JobBackend, create_backend
from orchestrator.interfaces.http.docs import docs_router
from orchestrator.interfaces.http.errors import install_error_handlers
from orchestrator.interfaces.http.feedback import router as feedback_router
from orchestrator.interfaces.http.limits import BodyLimit
from orchestrator.interfaces.http.openai_api import router as openai_router
from orchestrator.interfaces.http.routes import api, public, streams
from orchestrator.interfaces.http.threads import Threads
from orchestrator.interfaces.http.threads import router as threads_router
from orchestrator.logging import get_logger

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.settings import Settings

log = get_logger(__name__)


def create_app(orchestrator: Orchestrator, settings: Settings | None = None, *,
               jobs: JobBackend | None = None, workers: int = 0) -> FastAPI:
    """The HTTP app for ``orchestrator``; ``settings`` default to the orchestrator's.

    ``jobs`` replaces the backend chosen from the settings; ``workers`` starts that many
    in-process queue workers (queue backend only). The app does not close ``orchestrator``.
    """
    settings = settings or orchestrator.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = jobs or create_backend(orchestrator)
        app.state.jobs = backend
        app.state.threads = Threads(orchestrator, backend)
        stop = asyncio.Event()
        runners = _start_workers(orchestrator, backend, workers, stop)
        log.info("http.started", backend=backend.name, workers=len(runners), auth=app.state.api_keys.enabled)
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*runners, return_exceptions=True)
            await backend.aclose()
            log.info("http.stopped")

    app = FastAPI(
        title="slm-orchestrator",
        summary="A large model plans; small local models do the work.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None, docs_url=None, redoc_url=None,  # served by docs_router, as http.docs says
    )
    app.add_middleware(BodyLimit, max_bytes=settings.http.max_body_bytes, timeout=settings.http.body_timeout)
    app.state.orchestrator = orchestrator
    app.state.settings = settings
    app.state.api_keys = ApiKeys(settings.http.api_keys)
    install_error_handlers(app)
    observability.install(app, metrics_on=settings.telemetry.metrics)
    app.include_router(public)
    app.include_router(api)
    app.include_router(streams)
    app.include_router(feedback_router)
    app.include_router(threads_router)
    app.include_router(openai_router)
    app.include_router(docs_router(app, settings.http.docs))
    return app


def _start_workers(orchestrator: Orchestrator, backend: JobBackend, count: int,
                   stop: asyncio.Event) -> list[asyncio.Task[None]]:
    if count <= 0:
        return []
    from orchestrator.queue import JobQueue, Worker

    if not isinstance(backend, JobQueue):
        log.warning("http.workers_ignored", reason="no redis_url: jobs already run in-process", workers=count)
        return []
    return [asyncio.create_task(Worker(orchestrator, backend, name=None).run(stop), name=f"worker-{i}")
            for i in range(count)]


__all__ = ["create_app"]
