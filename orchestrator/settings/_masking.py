"""Secrets hidden for display: API keys, secret-named model options, passwords in URLs."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
SECRET_NAME = re.compile(r"key|token|secret|password|authorization", re.IGNORECASE)


def mask_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """Values of options named like a secret; ``*_env`` options name a variable, not a secret."""
    masked: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            masked[key] = mask_secrets(value)
        elif SECRET_NAME.search(key) and not key.lower().endswith("_env") and value not in (None, ""):
            masked[key] = [MASK for _ in value] if isinstance(value, list) else MASK
        else:
            masked[key] = value
    return masked


def mask_urls(value: Any) -> Any:
    """Passwords in URLs (``redis://user:pw@host``) replaced by ``***``."""
    if isinstance(value, dict):
        return {k: mask_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_urls(v) for v in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            return value
        if password:
            userinfo, _, hostport = parts.netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostport}"))
    return value


__all__ = ["MASK", "mask_secrets", "mask_urls"]
