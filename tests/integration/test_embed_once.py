"""Inside one ticket_triage run on the embedded profile, every distinct text is encoded once.

The category, urgency and summary steps all embed the ticket's sentences, at the same time;
the encoder's batcher (a pass takes the distinct texts queued, a cache answers texts seen)
must turn those repeated requests into one encoding each.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Sequence

import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.models.sentence import SentenceTransformerModel
from orchestrator.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]

TICKETS = ["I was charged twice for my card payment yesterday. Please refund the second charge.",
           "My transfer has not arrived yet. It has been three days and I need the money today."]


@pytest.mark.parametrize("ticket", TICKETS)
async def test_one_run_encodes_each_distinct_text_once(ticket: str) -> None:
    pytest.importorskip("sentence_transformers")
    async with Orchestrator(Settings.load(profile="embedded")) as orch:
        model = orch.pool.client("embed")
        assert isinstance(model, SentenceTransformerModel)
        batcher = await model.batcher()
        encode = batcher._encode  # the pass itself (to the encoder process): count what reaches it
        assert inspect.iscoroutinefunction(encode)
        encoded: Counter[str] = Counter()

        async def counting(texts: list[str]) -> list[list[float]]:
            encoded.update(texts)
            rows: list[list[float]] = await encode(texts)  # type: ignore[misc]
            return rows

        batcher._encode = counting
        requested: Counter[str] = Counter()
        embed = batcher.embed

        async def recording(texts: Sequence[str]) -> list[list[float]]:
            requested.update(texts)
            return await embed(texts)

        batcher.embed = recording  # type: ignore[method-assign]
        result = await orch.run("ticket_triage", {"ticket": ticket})
    assert result.ok, result.error
    assert requested[ticket] >= 3  # category, urgency and summary each asked for the ticket's text
    assert set(encoded) == set(requested)
    assert max(encoded.values()) == 1, [t for t, n in encoded.items() if n > 1]
