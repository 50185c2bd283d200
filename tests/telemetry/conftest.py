"""Telemetry fixtures: spans into the SDK's in-memory exporter, metrics into a fresh registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator import telemetry
from orchestrator.telemetry import metrics


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test, every finished span in the returned exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.enable_tracing(provider)
    yield exporter
    telemetry.disable_tracing()
    provider.shutdown()


@pytest.fixture
def prometheus() -> Iterator[None]:
    """Metrics on for the test, counting from zero."""
    metrics.disable_metrics()
    metrics.enable_metrics()
    yield
    metrics.disable_metrics()
