"""A deployment whose summarizer streams, for the web chat's live text: ``--app tests.browser.streaming_app:build``.

The writer model streams two drafts piece by piece (``chunk_delay`` apart, as the scripted models
stream): a first one too long for ``max_words``, which the summarizer repairs, then a short one.
After the first piece of draft N it waits until the file ``draft-N`` exists in the directory
``ORCH_TEST_GATES`` names, so a test can look at the page while the run is certainly unfinished.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.agents.summarizer import Summarizer
from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.models import FunctionModel, ModelSpec
from orchestrator.models.base import Completion, Message, TextDeltas
from orchestrator.models.scripted import Chunks
from orchestrator.workflow import Input, Workflow
from tests.interfaces.app import settings

FIRST_DRAFT = tuple(f"word{i} " for i in range(12))
SECOND_DRAFT = ("Short ", "and ", "fine.")
GATE_SECONDS = 30.0


class GatedWriter(FunctionModel):
    """Streams its drafts; after each draft's first piece, waits (bounded) for that draft's gate file."""

    def __init__(self, gates: Path):
        drafts = [Chunks(*FIRST_DRAFT), Chunks(*SECOND_DRAFT)]
        super().__init__(lambda call: drafts.pop(0),
                         ref="function:writer", streaming=True, chunk_delay=0.05)
        self.gates = gates
        self.drafts = 0

    async def stream(self, messages: Sequence[Message], on_delta: TextDeltas, **kwargs: Any) -> Completion:
        self.drafts += 1
        gate, pieces = self.gates / f"draft-{self.drafts}", [0]

        async def gated(piece: str) -> None:
            await on_delta(piece)
            pieces[0] += 1
            if pieces[0] == 1:
                await self._wait(gate)

        return await super().stream(messages, gated, **kwargs)

    @staticmethod
    async def _wait(gate: Path) -> None:
        for _ in range(int(GATE_SECONDS / 0.05)):
            if await asyncio.to_thread(gate.exists):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{gate} did not appear within {GATE_SECONDS:.0f} s")


def build() -> Orchestrator:
    registry = Registry()
    registry.add(Summarizer())
    digest = Workflow("digest", "Summarise a text.", inputs={"text": Input(str, "The text.")})
    summary = digest.step("summary", "summarizer", params={"max_words": 3}, text=digest.input.text)
    digest.output(summary=summary.summary)
    registry.add_workflow(digest)
    writer = GatedWriter(Path(os.environ["ORCH_TEST_GATES"]))
    return Orchestrator(settings(models={"writer": ModelSpec(ref="function:writer", local=True)},
                                 default_cascade=["writer"], planner={"model": None}),
                        registry=registry, models={"writer": writer})
