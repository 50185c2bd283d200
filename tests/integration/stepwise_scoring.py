"""How llama.cpp scoring worked before the prompt's end was shared: the reference that the
shared scoring is checked against (tests) and timed against (``bench.generation``)."""

from __future__ import annotations

import math
from typing import Any


def stepwise_logprobs(llama: Any, prefix: list[int], continuation: list[int]) -> list[float]:
    """The prompt's last token evaluated again for every option, then one eval call per token."""
    import llama_cpp
    import numpy as np

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
    """Each option's total log-likelihood after ``prompt``, the old way, on a ``llama_cpp.Llama``."""
    base = llama.tokenize(prompt.encode())
    scores = []
    for option in options:
        full = llama.tokenize((prompt + option).encode())
        split = max(1, llama.longest_token_prefix(base, full))
        scores.append(sum(stepwise_logprobs(llama, full[:split], full[split:])))
    return scores
