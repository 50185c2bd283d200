"""ScriptedModel and FunctionModel: queued replies, function replies, recorded calls, assert_complete."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from pydantic import BaseModel

from orchestrator.errors import ModelError
from orchestrator.models import (
    Capabilities,
    Completion,
    FunctionModel,
    ModelCall,
    ScoreCall,
    ScoringModel,
    ScriptedModel,
    scoring_model,
    system,
    user,
)
from orchestrator.models.scripted import hash_embedding

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}}


class Label(BaseModel):
    label: str


async def test_replies_come_in_order_in_every_form() -> None:
    ready = Completion(text="as is", model="elsewhere", local=False)
    model = ScriptedModel(["plain", {"label": "a"}, Label(label="b"), ready, [1, 2]], ref="scripted:test")
    first = await model.complete([user("one")])
    assert (first.text, first.parsed, first.model, first.local) == ("plain", None, "scripted:test", True)
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    as_dict = await model.complete([user("two")], schema=SCHEMA)
    assert json.loads(as_dict.text) == {"label": "a"} and as_dict.parsed == {"label": "a"}
    assert (await model.complete([user("three")], schema=SCHEMA)).parsed == {"label": "b"}
    assert await model.complete([user("four")]) is ready
    no_schema = await model.complete([user("five")])
    assert no_schema.text == "[1, 2]" and no_schema.parsed is None  # parsed only when a schema was asked for
    model.assert_complete()


async def test_text_that_is_not_json_parses_to_none_under_a_schema() -> None:
    model = ScriptedModel(["not json"])
    completion = await model.complete([user("x")], schema=SCHEMA)
    assert completion.text == "not json" and completion.parsed is None


async def test_an_exception_reply_is_raised() -> None:
    model = ScriptedModel([ModelError("scripted:model", "overloaded", retryable=True), "recovered"])
    with pytest.raises(ModelError, match="overloaded") as info:
        await model.complete([user("x")])
    assert info.value.retryable
    assert (await model.complete([user("x")])).text == "recovered"


async def test_calls_are_recorded() -> None:
    model = ScriptedModel(["a", "b"])
    await model.complete([system("Be brief."), user("first question")], schema=SCHEMA, max_tokens=12)
    await model.complete([user("second"), user("latest")])
    first, second = model.calls
    assert first == ModelCall((system("Be brief."), user("first question")), SCHEMA, 12)
    assert first.prompt == "Be brief.\nfirst question" and first.last_user == "first question"
    assert (second.schema, second.max_tokens, second.last_user) == (None, None, "latest")


async def test_running_out_of_replies_is_an_error_and_assert_complete_reports_it() -> None:
    model = ScriptedModel(["only"])
    await model.complete([user("x")])
    with pytest.raises(ModelError, match="no scripted reply left for call 2"):
        await model.complete([user("y")])
    assert len(model.calls) == 2 and model.unanswered == 1
    # A router turns that error into a failed attempt, so the check must not depend on it surfacing.
    with pytest.raises(AssertionError, match="1 calls found no scripted reply left"):
        model.assert_complete()


def test_assert_complete_reports_unused_replies_and_add_queues_more() -> None:
    model = ScriptedModel(["a"])
    model.add("b", {"c": 1})
    assert model.remaining == 3
    with pytest.raises(AssertionError, match="scripted:model: 3 scripted replies were not used"):
        model.assert_complete()
    ScriptedModel().assert_complete()


async def test_delay_holds_the_reply_without_blocking_other_calls() -> None:
    model = ScriptedModel(["a", "b"], delay=0.05)
    calls = [asyncio.ensure_future(model.complete([user(n)])) for n in ("1", "2")]
    await asyncio.sleep(0)
    assert len(model.calls) == 2 and not any(c.done() for c in calls)  # both in flight at once
    assert [c.text for c in await asyncio.gather(*calls)] == ["a", "b"]


async def test_function_model_decides_each_reply_sync_or_async() -> None:
    seen: list[ModelCall] = []

    def label(call: ModelCall) -> Any:
        seen.append(call)
        return {"label": call.last_user.upper()}

    model = FunctionModel(label, ref="function:labels", local=False)
    completion = await model.complete([user("billing")], schema=SCHEMA)
    assert completion.parsed == {"label": "BILLING"} and completion.model == "function:labels"
    assert not completion.local
    assert seen == model.calls and seen[0].schema == SCHEMA

    async def later(call: ModelCall) -> Any:
        await asyncio.sleep(0)
        return Label(label=str(len(call.messages)))

    assert (await FunctionModel(later).complete([system("s"), user("u")], schema=SCHEMA)).parsed == {"label": "2"}


async def test_function_model_can_raise() -> None:
    def refuse(call: ModelCall) -> Any:
        return ModelError("function:model", "refused")

    model = FunctionModel(refuse)
    with pytest.raises(ModelError, match="refused"):
        await model.complete([user("x")])
    assert len(model.calls) == 1


async def test_embeddings_are_deterministic_and_recorded() -> None:
    model = ScriptedModel()
    vectors = await model.embed(["refund my order", "refund my order please", "weather in Bath"])
    assert model.embed_calls == [("refund my order", "refund my order please", "weather in Bath")]
    assert vectors[0] == hash_embedding("refund my order")
    assert abs(sum(v * v for v in vectors[0]) - 1.0) < 1e-9

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    text_only = ScriptedModel(capabilities=Capabilities(embeddings=False))
    with pytest.raises(ModelError, match="does not embed"):
        await text_only.embed(["x"])


# -- scoring (Capabilities.scoring, the ScoringModel protocol) ----------------------------------------


async def test_scripted_scores_answer_score_and_choose_in_order() -> None:
    model = ScriptedModel(scores=[[-0.2, -1.5], {" b": -0.1, " a": -4.0}])
    assert model.capabilities.scoring and isinstance(model, ScoringModel)
    assert scoring_model(model) is model
    assert await model.score("Pick:", [" a", " b"]) == [-0.2, -1.5]
    chosen, probability = await model.choose("Pick:", [" a", " b"])
    assert chosen == " b" and probability == pytest.approx(1 / (1 + math.exp(-3.9)))
    assert model.score_calls == [ScoreCall("Pick:", (" a", " b"))] * 2
    assert model.calls == []
    model.assert_complete()


async def test_running_out_of_scores_or_misaligned_scores_is_an_error() -> None:
    model = ScriptedModel(scores=[[-1.0]])
    with pytest.raises(ModelError, match="1 scripted scores for 2 options"):
        await model.score("p", [" a", " b"])
    with pytest.raises(ModelError, match="no scripted scores left"):
        await model.score("p", [" a"])
    with pytest.raises(AssertionError, match="1 calls found no scripted reply left"):
        model.assert_complete()
    leftover = ScriptedModel(scores=[[-1.0]])
    leftover.add_scores(ModelError("scripted:model", "scoring failed"))
    with pytest.raises(AssertionError, match="2 scripted scores were not used"):
        leftover.assert_complete()
    await leftover.score("p", [" a"])
    with pytest.raises(ModelError, match="scoring failed"):
        await leftover.score("p", [" a"])


async def test_function_model_scorer_decides_scores_sync_or_async() -> None:
    async def by_length(call: ScoreCall) -> list[float]:
        await asyncio.sleep(0)
        return [-float(len(o)) for o in call.options]

    sync = FunctionModel(lambda call: "", scorer=lambda call: {call.options[-1]: 0.0})
    assert await sync.score("p", [" a", " b"]) == [-math.inf, 0.0]
    model = FunctionModel(lambda call: "", scorer=by_length)
    expected = math.exp(-3) / (math.exp(-3) + math.exp(-4))
    assert await model.choose("p", [" yes", " no"]) == (" no", pytest.approx(expected))
    assert model.score_calls == [ScoreCall("p", (" yes", " no"))]


async def test_models_without_scores_do_not_score() -> None:
    plain = ScriptedModel()
    assert not plain.capabilities.scoring and scoring_model(plain) is None
    with pytest.raises(ModelError, match="does not score"):
        await plain.score("p", [" a"])
    with pytest.raises(ModelError, match="at least one option"):
        await ScriptedModel(scores=[[-1.0]]).score("p", [])


def test_a_model_that_declares_scoring_must_implement_it() -> None:
    class Pretender:
        ref = "pretend:model"
        capabilities = Capabilities(scoring=True)

    with pytest.raises(ModelError, match=r"declares capabilities\.scoring"):
        scoring_model(Pretender())  # type: ignore[arg-type]
