"""The specialist contract: reading a model's answer into ``Output``."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from orchestrator.models.base import Capabilities, Completion, Message, user
from orchestrator.specialist import Specialist


class LabelOut(BaseModel):
    label: str


class Labeller(Specialist[LabelOut, LabelOut]):
    name = "labeller"
    description = "Labels."
    Input = LabelOut
    Output = LabelOut

    def prompt(self, request: LabelOut, instruction: str, capabilities: Capabilities) -> list[Message]:
        return [user(request.label)]


@pytest.mark.parametrize(
    "text", ['{"label": "x"}', '```json\n{"label": "x"}\n```', 'Sure! {"label": "x"}', '```json {"label": "x"}```']
)
def test_parse_output_reads_json_in_fences_or_prose(text: str) -> None:
    verdict = Labeller().parse_output(Completion(text=text))
    assert verdict.valid and verdict.output == LabelOut(label="x")


def test_parse_output_without_json_or_with_the_wrong_shape() -> None:
    assert Labeller().parse_output(Completion(text="x, I think")).problems == ["the answer is not valid JSON"]
    wrong = Labeller().parse_output(Completion(text='{"name": "x"}'))
    assert not wrong.valid and wrong.problems == ["label: Field required"]


async def test_a_repair_shows_the_model_its_last_answer_and_the_problems() -> None:
    from orchestrator.models.scripted import ScriptedModel

    model = ScriptedModel(['{"name": "x"}', {"label": "x"}])
    spec = Labeller()
    first = await spec.attempt(LabelOut(label="hi"), model)
    second = await spec.attempt(LabelOut(label="hi"), model, previous=first)
    assert second.valid and not first.valid
    repair = model.calls[1].messages
    assert [m.content for m in repair[-2:]] == ['{"name": "x"}', spec.repair_message(first)]
    assert "label: Field required" in repair[-1].content
    assert model.calls[1].schema == model.calls[0].schema is not None


def test_info_of_an_agent_class_defined_wrongly_is_a_plugin_error() -> None:
    from collections.abc import Callable

    from orchestrator.errors import PluginError

    class NoOutput(Specialist[LabelOut, LabelOut]):
        name = "no_output"
        description = "Forgot its Output."
        Input = LabelOut

    class Unnamed(Labeller):
        name = None  # type: ignore[assignment]

    class Opaque(BaseModel):
        callback: Callable[[], int]

    class OpaqueOutput(Labeller):
        Output = Opaque  # type: ignore[assignment]

    with pytest.raises(PluginError, match=r"agent 'no_output' \(.*NoOutput\): set `Output` to a pydantic model"):
        NoOutput.info()
    with pytest.raises(PluginError, match="set `name` to a string on the class"):
        Unnamed.info()
    with pytest.raises(PluginError, match="Output model Opaque has no JSON schema") as caught:
        OpaqueOutput.info()
    assert isinstance(caught.value, TypeError)
    assert Labeller.info().output_schema["required"] == ["label"]
