"""The API description: ``/openapi.json``, Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

``http.docs`` decides who may read them: ``keyed`` (the default) puts them behind the API key
when keys are configured (a browser passes it as ``?api_key=``, which the pages hand on to
``/openapi.json``), ``open`` serves them to anyone, ``off`` not at all. With no keys configured
``keyed`` is open, like the rest of the API.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from orchestrator.interfaces.http.auth import ApiKeys

DocsAccess = Literal["keyed", "open", "off"]


def docs_router(app: FastAPI, access: DocsAccess) -> APIRouter:
    """The routes of the API description for ``app`` under ``access`` (none for ``off``)."""
    router = APIRouter(include_in_schema=False)
    if access == "off":
        return router

    def admitted(request: Request) -> str:
        """The query string the pages pass on to ``/openapi.json`` (the key, if one was needed)."""
        if access == "open":
            return ""
        keys: ApiKeys = request.app.state.api_keys
        keys.check(request, allow_query=True)
        key = request.query_params.get("api_key")
        return f"?api_key={quote(key)}" if key and keys.enabled else ""

    @router.get("/openapi.json")
    async def openapi(request: Request) -> JSONResponse:
        admitted(request)
        return JSONResponse(app.openapi())

    @router.get("/docs")
    async def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json" + admitted(request), title=f"{app.title} - API")

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json" + admitted(request), title=f"{app.title} - ReDoc")

    return router


__all__ = ["DocsAccess", "docs_router"]
