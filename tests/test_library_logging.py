"""As a library we stay quiet: nothing below warning, nothing on stdout, and no structlog set-up of
our own until the application (or the ``orchestrator`` command) configures logging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)


def test_using_a_tool_prints_nothing() -> None:
    done = python("""
        from orchestrator.tools.pii import redact
        print(redact("mail ada@example.net").text)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mail [") and "ada@example.net" not in done.stdout  # the tool's output only
    assert len(done.stdout.splitlines()) == 1
    assert "pii.redacted" not in done.stdout + done.stderr


def test_an_orchestrator_does_not_configure_structlog_and_warnings_go_to_stderr() -> None:
    done = python("""
        import structlog
        from orchestrator import Orchestrator, Settings
        from orchestrator.logging import get_logger
        Orchestrator(Settings(models={}, specialists={}))
        print("configured" if structlog.is_configured() else "untouched")
        log = get_logger("orchestrator.demo").bind(run_id="r1")
        log.info("demo.info")
        log.warning("demo.warning", step="s")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["untouched"]
    assert "demo.info" not in done.stderr
    assert "demo.warning" in done.stderr and "run_id=r1" in done.stderr and "step=s" in done.stderr


def test_the_applications_own_structlog_config_receives_our_lines() -> None:
    done = python("""
        import structlog
        from structlog.testing import LogCapture
        capture = LogCapture()
        structlog.configure(processors=[capture])
        from orchestrator.tools.pii import redact
        redact("mail ada@example.net")
        from orchestrator.engine.app import Orchestrator
        from orchestrator.settings import Settings
        Orchestrator(Settings(models={}, specialists={}))
        print([e["event"] for e in capture.entries])
        print(structlog.get_config()["processors"] == [capture])
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['pii.redacted']", "True"]  # their config: debug included, not replaced
