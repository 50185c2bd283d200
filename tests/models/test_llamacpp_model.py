"""LlamaCppModel without loading weights: prompt format, capabilities, guard, load errors.

The real model runs in tests/integration/test_llamacpp_models.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import ModelError, ModelRequestBlocked
from orchestrator.models import guard
from orchestrator.models.base import assistant, system, user
from orchestrator.models.llamacpp import LlamaCppModel, plain_prompt
from orchestrator.models.spec import ModelSpec, create_model


def test_plain_prompt_puts_system_first_and_ends_with_the_assistant_label() -> None:
    messages = [system("Classify tickets."), user("Refund please"), assistant('{"label": "billing"}'),
                user("App crashes")]

    assert plain_prompt(messages) == (
        'Classify tickets.\n\nUser: Refund please\n\nAssistant: {"label": "billing"}\n\n'
        "User: App crashes\n\nAssistant:"
    )
    assert plain_prompt([user("hi")], "Q:", "A:") == "Q: hi\n\nA:"


def test_capabilities_for_gemma_and_for_a_path() -> None:
    gemma = create_model(ModelSpec(ref="llamacpp:gemma3-270m", options={"n_ctx": 1024}))
    assert isinstance(gemma, LlamaCppModel)
    caps = gemma.capabilities
    assert caps.structured_output == "grammar" and caps.logprobs and caps.embeddings and caps.local
    assert caps.context_size == 1024 and caps.parameters_b == 0.27

    other = LlamaCppModel(ModelSpec(ref="llamacpp:/models/x.gguf", options={"prompt_format": "chat"}))
    assert other.capabilities.parameters_b is None and other.capabilities.context_size == 2048
    assert other.capabilities.logprobs is False  # logprobs are scored on the plain prompt only


def test_unknown_prompt_format_is_refused() -> None:
    with pytest.raises(ModelError, match="prompt_format must be 'plain' or 'chat'"):
        LlamaCppModel(ModelSpec(ref="llamacpp:gemma3-270m", options={"prompt_format": "alpaca"}))


async def test_blocked_before_anything_is_loaded(tmp_path: Path) -> None:
    model = LlamaCppModel(ModelSpec(ref=f"llamacpp:{tmp_path / 'absent.gguf'}"))

    with guard.model_requests(allowed=False), pytest.raises(ModelRequestBlocked):
        await model.complete([user("hi")])


@pytest.mark.allow_model_requests
async def test_a_missing_file_says_what_to_check(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    model = LlamaCppModel(ModelSpec(ref=f"llamacpp:{tmp_path / 'absent.gguf'}"))

    with pytest.raises(ModelError, match="cannot load the GGUF model") as caught:
        await model.complete([user("hi")])
    assert not caught.value.retryable
