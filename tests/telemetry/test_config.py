"""Telemetry configuration: off by default, on by the standard OTEL_* variables or the config file."""

from __future__ import annotations

import sys

import pytest

from orchestrator import telemetry
from orchestrator.errors import ConfigError, MissingDependency
from orchestrator.settings import Settings
from orchestrator.telemetry import TelemetrySettings, resolved


def test_off_by_default_so_nothing_leaves_the_machine() -> None:
    final = resolved(TelemetrySettings(), {})
    assert final.tracing is False and final.capture_content is False
    assert final.service_name == "slm-orchestrator"


def test_the_standard_variables_turn_it_on_and_name_the_service() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SERVICE_NAME": "triage",
           "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    final = resolved(TelemetrySettings(), env)
    assert final.tracing is True and final.service_name == "triage" and final.capture_content is True
    assert resolved(TelemetrySettings(), {"OTEL_TRACES_EXPORTER": "console"}).exporter == "console"
    assert resolved(TelemetrySettings(), {"OTEL_TRACES_EXPORTER": "none"}).tracing is False


def test_the_config_file_wins_except_over_otel_sdk_disabled() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert resolved(TelemetrySettings(tracing=False), env).tracing is False
    assert resolved(TelemetrySettings(tracing=True), {}).tracing is True
    assert resolved(TelemetrySettings(tracing=True), {"OTEL_SDK_DISABLED": "true"}).tracing is False


def test_the_section_is_part_of_the_settings() -> None:
    settings = Settings(telemetry={"tracing": True, "endpoint": "http://127.0.0.1:4318", "metrics_port": 9464})
    assert settings.telemetry.metrics_port == 9464
    with pytest.raises(ConfigError, match=r"telemetry\.exporter"):
        Settings(telemetry={"exporter": "zipkin"})


def test_configure_with_tracing_off_sets_nothing_up(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    telemetry.configure_telemetry(TelemetrySettings())
    assert not telemetry.tracing_enabled()


def test_tracing_without_the_sdk_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.resources", None)  # as if the otel extra were missing
    with pytest.raises(MissingDependency) as caught:
        telemetry.configure_telemetry(TelemetrySettings(tracing=True))
    assert caught.value.install == "pip install 'slm-orchestrator[otel]'"
    assert not telemetry.tracing_enabled()
