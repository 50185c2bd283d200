"""Health checks for a deployment's models: can each one answer, how fast, and what can it do?

``orchestrator models check`` and the HTTP API call :func:`check_models`. Each
model gets one tiny request (``complete("Say OK", max_tokens=4)``, or ``embed``
for embedding-only models: those whose client says ``embed_only`` or whose
spec sets ``options.embed_only``), with no retries, all models at once. Loading an in-process
model's weights is timed apart (``load_ms``), and an enclosing
:func:`~orchestrator.models.loading.recording_loads` is told when one begins.
Failures are reported in plain words with what to do, never raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from pydantic import BaseModel

from orchestrator.errors import ModelError, ModelTimeout, OrchestratorError
from orchestrator.logging import get_logger
from orchestrator.models.base import Capabilities, Model, user
from orchestrator.models.endpoints import endpoints
from orchestrator.models.loading import recording_loads
from orchestrator.models.spec import ModelSpec, create_model

log = get_logger(__name__)


class ModelCheck(BaseModel):
    """The outcome of checking one model."""

    name: str
    """The model's name in the deployment."""
    ref: str
    ok: bool
    """Whether the model answered the test request."""
    local: bool
    latency_ms: float | None = None
    """How long the test request took to answer, when it succeeded (loading weights not included)."""
    load_ms: float | None = None
    """How long loading the model's weights took, when the check loaded them (in-process models)."""
    capabilities: Capabilities | None = None
    """What the client reports the model can do, when it could be built."""
    reply: str | None = None
    """What the model said (chat models), cut to 40 characters."""
    reason: str | None = None
    """Why the check failed, in words that say what to do."""
    replicas: list[ModelCheck] | None = None
    """For a model with several ``options.endpoints``: each endpoint checked on its own (``ref``
    is then the endpoint); the model is ok when any replica is."""


async def check_models(
    specs: Sequence[ModelSpec], *, timeout: float = 30  # noqa: ASYNC109 - a per-model limit, not the call's
) -> list[ModelCheck]:
    """Check every model concurrently, each within ``timeout`` seconds; results come back in
    the order of ``specs``."""
    return list(await asyncio.gather(*(check_model(spec, timeout=timeout) for spec in specs)))


async def check_model(spec: ModelSpec, *, timeout: float = 30) -> ModelCheck:  # noqa: ASYNC109
    """Send one tiny request to ``spec``'s model and report how it went (to each replica, when
    it has several endpoints)."""
    if endpoints(spec.options):
        return await _check_replicas(spec, timeout=timeout)
    probe = spec.model_copy(update={"retries": 0, "timeout": min(spec.timeout, timeout)})
    result = ModelCheck(name=spec.name, ref=spec.ref, ok=False, local=spec.is_local)
    try:
        model = create_model(probe)
    except OrchestratorError as exc:
        result.reason = str(exc)
        return result
    result.capabilities = model.capabilities
    started = time.perf_counter()
    try:
        with recording_loads() as loads:
            async with asyncio.timeout(timeout):
                result.reply = await _probe(model, embed_only=_embed_only(model, spec))
        result.ok = True
        result.load_ms = round(loads.seconds * 1000, 1) if loads.loads else None
        result.latency_ms = round(max(0.0, (time.perf_counter() - started - loads.seconds) * 1000), 1)
    except (ModelTimeout, TimeoutError):
        result.reason = f"no answer within {probe.timeout:g}s; the model may still be loading, try again"
    except ModelError as exc:
        result.reason = exc.reason
    except OrchestratorError as exc:
        result.reason = str(exc)
    except Exception as exc:  # a check reports every failure, whatever raised it
        result.reason = f"unexpected {type(exc).__name__}: {exc}"
    finally:
        await model.aclose()
    log.info("model.checked", model=spec.ref, ok=result.ok, latency_ms=result.latency_ms)
    return result


async def _check_replicas(spec: ModelSpec, *, timeout: float) -> ModelCheck:  # noqa: ASYNC109
    from orchestrator.models.replicas import replica_spec

    urls = endpoints(spec.options)
    checks = await asyncio.gather(*(check_model(replica_spec(spec, url), timeout=timeout) for url in urls))
    replicas = [check.model_copy(update={"ref": url}) for check, url in zip(checks, urls, strict=True)]
    up = [check for check in replicas if check.ok]
    result = ModelCheck(name=spec.name, ref=spec.ref, ok=bool(up), local=spec.is_local, replicas=replicas,
                        capabilities=next((check.capabilities for check in replicas if check.capabilities), None))
    if up:
        fastest = min(up, key=lambda check: check.latency_ms or 0.0)
        result.latency_ms, result.load_ms, result.reply = fastest.latency_ms, fastest.load_ms, fastest.reply
    if len(up) < len(replicas):
        down = ", ".join(check.ref for check in replicas if not check.ok)
        result.reason = f"{len(replicas) - len(up)} of {len(replicas)} replicas failed ({down}); see each replica"
    return result


def _embed_only(model: Model, spec: ModelSpec) -> bool:
    return bool(getattr(model, "embed_only", False) or spec.options.get("embed_only", False))


async def _probe(model: Model, *, embed_only: bool) -> str | None:
    if embed_only:
        vectors = await model.embed(["ok"])
        if not vectors or not vectors[0]:
            raise ModelError(model.ref, "the embedding came back empty")
        return None
    completion = await model.complete([user("Say OK")], max_tokens=4)
    return completion.text[:40]


__all__ = ["ModelCheck", "check_model", "check_models"]
