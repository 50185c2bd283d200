"""A model's replica endpoints as configured: ``options.endpoints``, checked and read.

A model entry of an HTTP backend (``openai:`` or ``ollama:``) may list several servers
that serve the same model::

    [models.small]
    ref = "openai:gemma-3-270m"
    options = { endpoints = ["http://127.0.0.1:8081/v1", "http://127.0.0.1:8082/v1"] }

Each entry is what ``base_url`` (``openai``) or ``host`` (``ollama``) would be for one server.
:func:`endpoints_problem` says what is wrong with such a list (the spec's validator turns it
into a configuration error); :func:`endpoints` reads a valid one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

#: Schemes whose clients talk to one server over HTTP, and the option naming that server.
ENDPOINT_OPTION: dict[str, str] = {"openai": "base_url", "ollama": "host"}


def endpoints_problem(scheme: str, options: Mapping[str, Any]) -> str | None:
    """Why ``options.endpoints`` of a ``scheme:`` model is not usable, or None when it is (or absent)."""
    if "endpoints" not in options:
        return None
    value = options["endpoints"]
    single = ENDPOINT_OPTION.get(scheme)
    if single is None:
        known = ", ".join(f"{s}:" for s in ENDPOINT_OPTION)
        return (f"options.endpoints is for models served over HTTP ({known}); a {scheme}: model runs "
                "in this process, so remove it")
    if single in options:
        return (f"options.endpoints and options.{single} both name servers; keep only endpoints "
                f"(one entry per server)")
    if not isinstance(value, list) or not value:
        return ('options.endpoints must be a non-empty list of URLs, e.g. '
                '["http://127.0.0.1:8081/v1", "http://127.0.0.1:8082/v1"]')
    seen: set[str] = set()
    for index, entry in enumerate(value):
        if not isinstance(entry, str) or not entry.strip():
            return f"options.endpoints[{index}] is {entry!r}; each entry must be a URL string"
        problem = _url_problem(entry.strip())
        if problem is not None:
            return f"options.endpoints[{index}] {entry!r} {problem}"
        key = entry.strip().rstrip("/")
        if key in seen:
            return f"options.endpoints[{index}] {entry!r} is listed twice; list each server once"
        seen.add(key)
    for option in ("replica_backoff", "replica_backoff_max"):
        pause = options.get(option, 1.0)
        if isinstance(pause, bool) or not isinstance(pause, int | float) or pause <= 0:
            return f"options.{option} is {pause!r}; it must be a number of seconds above 0"
    return None


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host; write it like http://127.0.0.1:8081/v1"
    if port == 0:
        return "has port 0; give the port the server listens on"
    return None


def endpoints(options: Mapping[str, Any]) -> list[str]:
    """The configured replica endpoints (stripped, in order); empty when there are none."""
    value = options.get("endpoints") or []
    return [str(entry).strip() for entry in value]


__all__ = ["ENDPOINT_OPTION", "endpoints", "endpoints_problem"]
