"""The specialist contract: reading a model's answer into ``Output``, repairs, and what ``info`` checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel

from orchestrator.errors import PluginError
from orchestrator.models.base import Completion
from orchestrator.models.scripted import ScriptedModel
from tests.engine.agents import Echo, EchoIn, EchoOut


@pytest.mark.parametrize(
    "text", ['{"text": "x"}', '```json\n{"text": "x"}\n```', 'Sure! {"text": "x"}', '```json {"text": "x"}```']
)
def test_parse_output_reads_json_in_fences_or_prose(text: str) -> None:
    verdict = Echo().parse_output(Completion(text=text))
    assert verdict.valid and verdict.output == EchoOut(text="x")


def test_parse_output_without_json_or_with_the_wrong_shape() -> None:
    assert Echo().parse_output(Completion(text="x, I think")).problems == ["the answer is not valid JSON"]
    wrong = Echo().parse_output(Completion(text='{"name": "x"}'))
    assert not wrong.valid and wrong.problems == ["text: Field required"]


async def test_a_repair_shows_the_model_its_last_answer_and_the_problems() -> None:
    model = ScriptedModel(['{"name": "x"}', {"text": "x"}])
    spec = Echo()
    first = await spec.attempt(EchoIn(text="hi"), model)
    second = await spec.attempt(EchoIn(text="hi"), model, previous=first)
    assert second.valid and not first.valid
    repair = model.calls[1].messages
    assert [m.content for m in repair[-2:]] == ['{"name": "x"}', spec.repair_message(first)]
    assert "text: Field required" in repair[-1].content
    assert model.calls[1].schema == model.calls[0].schema is not None


def test_info_of_an_agent_class_defined_wrongly_is_a_plugin_error() -> None:
    class NoOutput(Echo):
        name = "no_output"
        Output = None  # type: ignore[assignment]

    class Unnamed(Echo):
        name = None  # type: ignore[assignment]

    class Opaque(BaseModel):
        callback: Callable[[], int]

    class OpaqueOutput(Echo):
        Output = Opaque  # type: ignore[assignment]

    with pytest.raises(PluginError, match=r"agent 'no_output' \(.*NoOutput\): set `Output` to a pydantic model"):
        NoOutput.info()
    with pytest.raises(PluginError, match="set `name` to a string on the class"):
        Unnamed.info()
    with pytest.raises(PluginError, match="Output model Opaque has no JSON schema") as caught:
        OpaqueOutput.info()
    assert isinstance(caught.value, TypeError)
    assert Echo.info().output_schema["required"] == ["text"]
