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
