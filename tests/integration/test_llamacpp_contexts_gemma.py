"""Gemma 3 270M on several contexts at once, and options scored with the prompt's end shared."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from stepwise_scoring import stepwise_scores

from orchestrator.models.base import user
from orchestrator.models.llamacpp import LlamaCppModel
from orchestrator.models.llamacpp_contexts import _LOADED
from orchestrator.models.spec import ModelSpec

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]
llama_cpp = pytest.importorskip("llama_cpp")

PROMPT = "Ticket: I was charged twice for my subscription this month.\nCategory:"
OPTIONS = [" billing", " bug report", " other", " account access and login problems"]


async def test_scores_with_the_prompt_end_shared_equal_the_stepwise_scores(gemma_path: Path) -> None:
    model = LlamaCppModel(ModelSpec(ref="llamacpp:gemma3-270m", timeout=60))
    reference = llama_cpp.Llama(model_path=str(gemma_path), n_ctx=2048, verbose=False)
    try:
        for prompt, options in [(PROMPT, OPTIONS), ("The capital of France is", [" Paris", " Lyon", " a city"])]:
            expected = stepwise_scores(reference, prompt, options)
            assert await model.score(prompt, options) == pytest.approx(expected, abs=1e-4)
            assert await model.score(prompt, options) == pytest.approx(expected, abs=1e-4)  # prompt cached now
        assert (await model.choose("The capital of France is", [" Paris", " Lyon"]))[0] == " Paris"
    finally:
        reference.close()


async def test_concurrent_calls_run_on_contexts_sharing_one_copy_of_the_weights(gemma_path: Path) -> None:
    model = LlamaCppModel(ModelSpec(ref="llamacpp:gemma3-270m", timeout=120, options={"n_ctx": 1024, "contexts": 2}))
    prompts = [[user(f"Write one sentence about the number {n}.")] for n in range(4)]
    alone = [(await model.complete(p, max_tokens=12)).text for p in prompts]
    together = await asyncio.gather(*(model.complete(p, max_tokens=12) for p in prompts))
    scored = await asyncio.gather(*(model.score(PROMPT, OPTIONS) for _ in range(3)))

    assert [c.text for c in together] == alone  # greedy: the same answers on any context
    assert scored[1] == pytest.approx(scored[0], abs=1e-4) and scored[2] == pytest.approx(scored[0], abs=1e-4)
    pool = _LOADED[(str(gemma_path), 1024, False)]
    assert pool.size == 2
    forked = pool._contexts[1].llama
    assert forked._model is pool.base._model and forked.model == pool.base.model  # the weights loaded once
    assert forked.ctx != pool.base.ctx
