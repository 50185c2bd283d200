"""Gemma 3 270M on several contexts at once, and options scored with the prompt's end shared."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from orchestrator.models.base import user
from orchestrator.models.llamacpp import LlamaCppModel
from orchestrator.models.llamacpp_contexts import _LOADED
from orchestrator.models.spec import ModelSpec

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]
llama_cpp = pytest.importorskip("llama_cpp")
np = pytest.importorskip("numpy")

PROMPT = "Ticket: I was charged twice for my subscription this month.\nCategory:"
OPTIONS = [" billing", " bug report", " other", " account access and login problems"]


def stepwise_logprobs(llama: Any, prefix: list[int], continuation: list[int]) -> list[float]:
    """How scoring worked before: the prompt's last token evaluated again for every option, then
    one eval call per continuation token."""
    cached = llama.input_ids[: llama.n_tokens].tolist()
    llama.n_tokens = min(llama.longest_token_prefix(cached, prefix), len(prefix) - 1)
    llama.eval(prefix[llama.n_tokens:])
    scores = []
    for index, token in enumerate(continuation):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),))
        peak = float(logits.max())
        scores.append(float(logits[token]) - peak - math.log(float(np.exp(logits - peak).sum())))
        if index + 1 < len(continuation):
            llama.eval([token])
    return scores


def stepwise_scores(llama: Any, prompt: str, options: list[str]) -> list[float]:
    base = llama.tokenize(prompt.encode())
    scores = []
    for option in options:
        full = llama.tokenize((prompt + option).encode())
        split = max(1, llama.longest_token_prefix(base, full))
        scores.append(sum(stepwise_logprobs(llama, full[:split], full[split:])))
    return scores


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
