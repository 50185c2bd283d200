"""``orchestrator serve``: the HTTP API, the OpenAI-compatible endpoint and the web chat."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from orchestrator.interfaces.cli._common import add_app_option, add_config_options
from orchestrator.interfaces.cli.chat import load_orchestrator

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve", help="serve the HTTP API, /v1/chat/completions and the web chat",
        description="Jobs go to the Redis queue when redis_url is configured (run workers, or "
                    "--with-worker N), else they run inside the server.")
    serve.add_argument("--host", help="address to bind (default: http.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: http.port, 8000; 0 picks a free one)")
    serve.add_argument("--with-worker", type=int, default=0, metavar="N",
                       help="also run N queue workers in this process (Redis only)")
    add_app_option(serve)
    add_config_options(serve)
    serve.set_defaults(func=_serve, log_level="info")


def _serve(args: argparse.Namespace) -> int:
    return asyncio.run(_serve_async(args))


async def _serve_async(args: argparse.Namespace) -> int:
    import uvicorn

    from orchestrator import telemetry
    from orchestrator.interfaces.http import create_app
    from orchestrator.interfaces.http.server import server_config
    from orchestrator.logging import get_logger

    log = get_logger("orchestrator.serve")
    orchestrator = load_orchestrator(args)
    settings = orchestrator.settings
    host = args.host or settings.http.host
    port = settings.http.port if args.port is None else args.port
    if not settings.http.api_keys and host not in _LOOPBACK:
        log.warning("http.unauthenticated", host=host,
                    hint="no API keys configured (ORCHESTRATOR_API_KEYS): anyone who can reach this "
                         "address can run jobs")
    async with orchestrator:
        app = create_app(orchestrator, settings, workers=args.with_worker)
        config = server_config(app, settings.http, host=host, port=port, log_level="info",
                               timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        log.info("http.serving", host=host, port=port, backend="redis" if settings.redis_url else "memory")
        with telemetry.process_telemetry(settings.telemetry, metrics_on=True):
            await server.serve()
    return 0


__all__ = ["register"]
