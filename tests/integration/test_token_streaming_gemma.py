"""Token streaming for real: Gemma 3 270M on llama.cpp in this process, through the summarizer,
the job backend and ``/v1/chat/completions``, read by the official ``openai`` client."""

from __future__ import annotations

import time

import httpx
import pytest
from openai import AsyncOpenAI

from orchestrator.agents.summarizer import Summarizer
from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.interfaces.http import create_app
from orchestrator.models.base import system, user
from orchestrator.models.llamacpp import LlamaCppModel
from orchestrator.models.spec import ModelSpec
from orchestrator.settings import Settings
from orchestrator.specialist import SpecialistConfig
from orchestrator.workflow import Input, Workflow
from tests.interfaces.conftest import KEY, serving

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]
pytest.importorskip("llama_cpp")

TEXT = ("The city council met on Tuesday to discuss the new bus routes. After two hours of debate, the council "
        "voted to add three routes in the north of the city, starting in March. The mayor said the change would "
        "cut commuting times for about ten thousand residents. Critics worried about the cost of new buses.")
GEMMA = ModelSpec(ref="llamacpp:gemma3-270m", timeout=120)


async def test_llamacpp_streams_pieces_that_make_up_the_answer() -> None:
    model = LlamaCppModel(GEMMA)
    pieces: list[str] = []

    async def keep(piece: str) -> None:
        pieces.append(piece)

    completion = await model.stream([system("Summarise the text in one sentence."), user(TEXT)], keep,
                                    max_tokens=40, logprobs=True)
    assert len(pieces) > 3
    assert "".join(pieces).strip() == completion.text and completion.text
    assert completion.usage.output_tokens > 3 and completion.token_logprobs


async def test_openai_client_reads_the_summary_while_gemma_is_still_writing() -> None:
    registry = Registry()
    registry.add(Summarizer(SpecialistConfig(threshold=0.0, options={"extractive": False})))
    digest = Workflow("digest", "Summarise a text.", inputs={"text": Input(str, "The text.")})
    summary = digest.step("summary", "summarizer", params={"max_words": 80}, text=digest.input.text)
    digest.output(summary=summary.summary)
    registry.add_workflow(digest)
    settings = Settings(models={"gemma": GEMMA}, default_cascade=["gemma"], planner={"model": None},
                        default_sensitivity="public", redis_url=None, http={"api_keys": [KEY]})
    orch = Orchestrator(settings, registry=registry)
    await LlamaCppModel(GEMMA).complete([user("Hi")], max_tokens=1)  # load the weights before timing
    try:
        async with serving(create_app(orch)) as url, \
                AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=120) as client, \
                httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as http:
            started = time.perf_counter()
            stream = await client.chat.completions.create(
                model="workflow:digest", messages=[{"role": "user", "content": TEXT}], stream=True)
            first_at, status_at_first, contents, job_id = None, None, [], ""
            async for chunk in stream:
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    if first_at is None:
                        first_at = time.perf_counter() - started
                        job_id = chunk.id.removeprefix("chatcmpl-")
                        status_at_first = (await http.get(f"/v1/jobs/{job_id}")).json()["status"]
                    contents.append(piece)
            ended_at = time.perf_counter() - started
            final = (await http.get(f"/v1/jobs/{job_id}")).json()
    finally:
        await orch.aclose()
    print(f"\nfirst content chunk at {first_at:.2f} s of {ended_at:.2f} s; {len(contents)} content chunks")
    assert status_at_first == "running"  # the first words came while the run was still going
    assert len(contents) > 5  # piece by piece as generated, not one answer cut up at the end
    assert "".join(contents) == f"summary: {final['result']['answer']['summary']}" or "[revised answer]" in "".join(
        contents)
