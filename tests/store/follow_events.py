"""Follows one run's events from another process: prints each event type as it arrives.

Usage: ``python -m tests.store.follow_events REDIS_URL PREFIX RUN_ID TIMEOUT``
Prints ``ready`` once connected, then one ``<type> <step_id>`` line per event.
"""

from __future__ import annotations

import asyncio
import sys

from orchestrator.keys import KeySpace
from orchestrator.redis.connection import is_cluster_url
from orchestrator.store import create_store


async def main(url: str, prefix: str, run_id: str, follow_for: float) -> None:
    store = create_store(url, KeySpace(prefix, cluster=is_cluster_url(url)))
    try:
        await store.get_run(run_id)  # connect before announcing readiness
        print("ready", flush=True)
        async for _cursor, event in store.read_events(run_id, follow=True, timeout=follow_for):
            print(event.type, event.step_id or "-", flush=True)
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
