"""``orchestrator submit`` refuses, before queueing, what ``Orchestrator.submit`` refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from orchestrator.keys import KeySpace
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


def submit(keyspace: KeySpace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORCHESTRATOR_REDIS_URL": REDIS_URL, "ORCHESTRATOR_KEY_PREFIX": keyspace.prefix}
    return subprocess.run([sys.executable, "-m", "orchestrator", "submit", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60, check=False)


def queued_keys(keyspace: KeySpace) -> list[bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(match=f"{keyspace.prefix}:*", count=1000))
    finally:
        client.close()


def test_an_unknown_workflow_is_refused_and_nothing_is_queued(keyspace: KeySpace) -> None:
    done = submit(keyspace, "no_such_flow")
    assert done.returncode == 2, done.stdout
    assert "no_such_flow" in done.stderr and "ticket_triage" in done.stderr  # says what exists
    assert done.stdout == ""
    assert queued_keys(keyspace) == []


def test_an_input_the_workflow_does_not_take_is_refused(keyspace: KeySpace) -> None:
    done = submit(keyspace, "ticket_triage", "-i", "tickt=x")
    assert done.returncode == 2, done.stdout
    assert "'tickt'" in done.stderr and "ticket" in done.stderr
    assert done.stdout == ""
    assert queued_keys(keyspace) == []


def test_a_valid_job_is_still_queued(keyspace: KeySpace) -> None:
    done = submit(keyspace, "ticket_triage", "-i", "ticket=my card was charged twice", "--json")
    assert done.returncode == 0, done.stderr
    assert '"job_id"' in done.stdout
    keys = queued_keys(keyspace)
    assert keys != []
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(*keys)
    finally:
        client.close()
