"""Logging: our loggers, quiet as a library until the application sets logging up.

Every module logs through :func:`get_logger`. While nobody has configured structlog, those
loggers write warnings and errors only, to stderr, and nothing else: importing or using the
library (``orchestrator.tools``, an ``Orchestrator``) never prints debug or info lines, and never
configures structlog. Once the application configures structlog (``structlog.configure``, or
:func:`configure_logging`, which the ``orchestrator`` command calls), every line follows that
configuration. Every line of a run carries ``run_id`` (and ``step_id`` inside a step) through
structlog's context variables. Document text and secrets are never logged: events carry ids,
names, sizes and timings only.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Iterator
from typing import Any, Literal

import structlog

LogFormat = Literal["auto", "json", "console"]

_QUIET_LEVEL = logging.WARNING
"""The least severe level our loggers write before the application configures logging."""


class Logger:
    """A module's logger: the application's structlog setup when there is one, else warnings
    and errors to stderr. ``bind`` returns a logger with more context, as structlog's does."""

    __slots__ = ("_context", "_name", "_proxy")

    def __init__(self, name: str, context: dict[str, Any] | None = None):
        self._name = name
        self._context = context or {}
        self._proxy: Any = structlog.get_logger(name, **self._context)

    def bind(self, **values: Any) -> Logger:
        return Logger(self._name, {**self._context, **values})

    def _target(self) -> Any:
        if structlog.is_configured():
            return self._proxy
        return _quiet().bind(logger=self._name, **self._context)

    def debug(self, event: str, *args: Any, **values: Any) -> None:
        self._target().debug(event, *args, **values)

    def info(self, event: str, *args: Any, **values: Any) -> None:
        self._target().info(event, *args, **values)

    def warning(self, event: str, *args: Any, **values: Any) -> None:
        self._target().warning(event, *args, **values)

    def error(self, event: str, *args: Any, **values: Any) -> None:
        self._target().error(event, *args, **values)

    def exception(self, event: str, *args: Any, **values: Any) -> None:
        self._target().exception(event, *args, **values)


@contextlib.contextmanager
def bound(**values: Any) -> Iterator[None]:
    """``values`` in every line logged within the block, as structlog's ``bound_contextvars``, but
    restored by token: that one copies and walks the whole context (every context variable, of
    every library) on each entry, once per step of every run."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def get_logger(name: str) -> Logger:
    """The logger of module ``name`` (use ``get_logger(__name__)``)."""
    return Logger(name)


class _Stderr:
    """structlog's output for the quiet loggers: ``sys.stderr`` as it is at each line."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = error = critical = exception = fatal = msg


def _stderr_factory(*_args: Any) -> _Stderr:
    return _Stderr()


@functools.cache
def _quiet() -> Any:
    """The logger our modules use until logging is configured: warnings and up, to stderr."""
    return structlog.wrap_logger(
            _Stderr(), wrapper_class=structlog.make_filtering_bound_logger(_QUIET_LEVEL),
            processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                        structlog.processors.TimeStamper(fmt="iso", utc=True),
                        structlog.processors.format_exc_info, structlog.dev.ConsoleRenderer(colors=False)])


def configure_logging(level: str = "info", fmt: LogFormat = "auto") -> None:
    """Set up structlog (and stdlib logging) for this process; writes to stderr."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    json_lines = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_factory,  # sys.stderr as it is at each line, never a stream closed since
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(name)s: %(message)s")


__all__ = ["LogFormat", "Logger", "bound", "configure_logging", "get_logger"]
