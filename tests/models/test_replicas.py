"""ReplicatedModel against several real HTTP servers on 127.0.0.1: spreading, failover, backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_server import FakeServer, Reply, recording, start
from test_openai_compat_model import CHAT, chat_reply, openai_error

from orchestrator.errors import ConfigError, ModelError
from orchestrator.models.base import user
from orchestrator.models.check import check_model
from orchestrator.models.notices import ReplicaChange, noticing
from orchestrator.models.replicas import ReplicatedModel
from orchestrator.models.spec import ModelSpec, create_model
from orchestrator.settings import Settings

pytestmark = pytest.mark.allow_model_requests

OK = chat_reply("OK")


@pytest.fixture
def servers() -> Iterator[list[FakeServer]]:
    """Three started FakeServers, each on its own free port of 127.0.0.1."""
    started = [start() for _ in range(3)]
    yield [fake for fake, _ in started]
    for _, stop in started:
        stop()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replicated(urls: list[str], *, scheme: str = "openai", clock: Clock | None = None,
               **options: Any) -> ReplicatedModel:
    suffix = "/v1" if scheme == "openai" else ""
    spec = ModelSpec(ref=f"{scheme}:small-model", options={"endpoints": [f"{u}{suffix}" for u in urls], **options})
    return ReplicatedModel(spec, clock=clock or Clock())


def chats(server: FakeServer) -> int:
    return len(server.bodies(CHAT))


async def test_a_spec_with_endpoints_builds_a_replicated_model_that_is_local_when_every_endpoint_is() -> None:
    spec = ModelSpec(ref="openai:m", options={"endpoints": ["http://127.0.0.1:8081/v1", "http://localhost:8082/v1"]})
    model = create_model(spec)
    assert isinstance(model, ReplicatedModel)
    assert model.endpoints == ["http://127.0.0.1:8081/v1", "http://localhost:8082/v1"] and spec.is_local
    await model.aclose()
    remote = ModelSpec(ref="openai:m", options={"endpoints": ["http://127.0.0.1:8081/v1", "https://api.example/v1"]})
    assert not remote.is_local


async def test_concurrent_calls_spread_one_per_replica(servers: list[FakeServer]) -> None:
    for server in servers:
        server.respond(CHAT, lambda _request: Reply(OK.status, OK.body, delay=0.2))
    model = replicated([s.url for s in servers])

    answers = await asyncio.gather(*(model.complete([user("hi")]) for _ in range(6)))

    assert [a.text for a in answers] == ["OK"] * 6
    assert [chats(s) for s in servers] == [2, 2, 2]
    assert all(r.calls == 2 and r.in_flight == 0 for r in model.status())
    await model.aclose()


async def test_a_busy_replica_gets_no_new_call_while_others_are_idle(servers: list[FakeServer]) -> None:
    slow, fast_a, fast_b = servers
    slow.respond(CHAT, lambda _request: Reply(OK.status, OK.body, delay=0.5))
    for server in (fast_a, fast_b):
        server.respond(CHAT, lambda _request: OK)
    model = replicated([s.url for s in servers])

    pending = asyncio.create_task(model.complete([user("long")]))  # the first call goes to the first replica
    for _ in range(100):  # bounded: until the slow server holds the call
        if chats(slow):
            break
        await asyncio.sleep(0.01)
    assert model.status()[0].in_flight == 1
    for _ in range(4):
        await model.complete([user("short")])
    await pending

    assert [chats(s) for s in servers] == [1, 2, 2]
    await model.aclose()


async def test_a_refused_replica_fails_over_and_is_taken_out(server: FakeServer, refused_url: str) -> None:
    server.respond(CHAT, lambda _request: OK)
    model = replicated([refused_url, server.url])

    answers = [await model.complete([user("hi")]) for _ in range(4)]

    assert [a.text for a in answers] == ["OK"] * 4 and chats(server) == 4
    assert {a.endpoint for a in answers} == {f"{server.url}/v1"}  # the replica that answered
    down, up = model.status()
    assert not down.up and down.failures == 1 and "connection refused" in (down.last_error or "")
    assert down.retry_in_s == 1.0 and up.up and up.calls == 4
    await model.aclose()


async def test_a_5xx_fails_over_but_a_4xx_is_the_requests_fault(servers: list[FakeServer]) -> None:
    first, second, _ = servers
    first.script(CHAT, openai_error(503, "overloaded"), openai_error(400, "bad messages"))
    second.respond(CHAT, lambda _request: OK)
    clock = Clock()
    model = replicated([first.url, second.url], clock=clock)

    assert (await model.complete([user("hi")])).text == "OK"
    assert model.status()[0].failures == 1 and "HTTP 503" in (model.status()[0].last_error or "")

    clock.now += 1.5  # the first replica is due again, and answers with a 4xx
    with pytest.raises(ModelError, match="HTTP 400: bad messages") as info:
        for _ in range(2):  # bounded: the first replica is tried within two calls
            await model.complete([user("hi")])
    assert not info.value.retryable and chats(first) == 2
    await model.aclose()


async def test_backoff_doubles_and_a_recovered_replica_is_admitted_again(servers: list[FakeServer]) -> None:
    flaky, steady, _ = servers
    flaky.script(CHAT, openai_error(500, "boom"), openai_error(500, "boom again"))
    flaky.respond(CHAT, lambda _request: OK)
    steady.respond(CHAT, lambda _request: OK)
    clock = Clock()
    model = replicated([flaky.url, steady.url], clock=clock, replica_backoff=2.0)

    async def until_flaky_tried() -> None:
        before = chats(flaky)
        for _ in range(3):  # bounded: idle replicas take turns, so the flaky one comes up within two calls
            await model.complete([user("hi")])
            if chats(flaky) > before:
                return

    await until_flaky_tried()
    assert model.status()[0].retry_in_s == 2.0
    await model.complete([user("hi")])
    assert chats(flaky) == 1  # still out: not tried

    clock.now += 2.5
    await until_flaky_tried()
    status = model.status()[0]
    assert status.failures == 2 and status.retry_in_s == 4.0 and status.last_error == "HTTP 500: boom again"

    clock.now += 4.5
    await until_flaky_tried()
    status = model.status()[0]
    assert status.up and status.failures == 0 and status.calls == 1 and status.last_error is None
    await model.aclose()


async def test_calls_under_way_on_a_failing_replica_count_as_one_failure(servers: list[FakeServer]) -> None:
    failing, *healthy = servers
    failing.respond(CHAT, lambda _request: Reply(500, {"error": {"message": "boom"}}, delay=0.2))
    for server in healthy:
        server.respond(CHAT, lambda _request: OK)
    model = replicated([s.url for s in servers])

    answers = await asyncio.gather(*(model.complete([user("hi")]) for _ in range(4)))

    assert [a.text for a in answers] == ["OK"] * 4 and chats(failing) == 2
    assert model.status()[0].failures == 1 and model.status()[0].retry_in_s == 1.0
    await model.aclose()


async def test_every_replica_down_names_each_endpoints_failure(server: FakeServer, refused_url: str) -> None:
    server.respond(CHAT, lambda _request: openai_error(502, "bad gateway"))
    model = replicated([refused_url, server.url])

    with pytest.raises(ModelError) as info:
        await model.complete([user("hi")])

    reason = info.value.reason
    assert reason.startswith("every replica failed (2): ")
    assert f"{refused_url}/v1: connection refused" in reason and f"{server.url}/v1: HTTP 502: bad gateway" in reason
    assert info.value.retryable and not any(r.up for r in model.status())
    await model.aclose()


async def test_when_every_replica_is_out_they_are_still_tried_soonest_due_first(server: FakeServer,
                                                                                refused_url: str) -> None:
    server.script(CHAT, openai_error(502, "bad gateway"))
    server.respond(CHAT, lambda _request: OK)
    model = replicated([refused_url, server.url])
    with pytest.raises(ModelError, match="every replica failed"):
        await model.complete([user("hi")])

    completion = await model.complete([user("hi")])  # both out: the refused one first, then the other

    assert completion.text == "OK" and completion.endpoint == f"{server.url}/v1"
    refused, recovered = model.status()
    assert not refused.up and refused.failures == 1  # failing again while out does not double its pause
    assert recovered.up and recovered.failures == 0 and recovered.calls == 1
    await model.aclose()


async def test_ollama_replicas_fail_over_on_recorded_responses(servers: list[FakeServer]) -> None:
    broken, healthy, _ = servers
    broken.respond("/api/chat", lambda _request: recording("ollama_server_error"))
    healthy.respond("/api/chat", lambda _request: recording("ollama_chat_text"))
    healthy.respond("/api/embed", lambda _request: recording("ollama_embed"))
    model = replicated([broken.url, healthy.url], scheme="ollama")

    completion = await model.complete([user("Say OK")])
    vectors = await model.embed(["a", "b"])

    assert completion.text == "OK" and completion.usage.output_tokens == 2
    assert len(vectors) == len(recording("ollama_embed").body["embeddings"])
    assert len(broken.bodies("/api/chat")) == 1 and not model.status()[0].up
    await model.aclose()


async def test_stream_fails_over_before_any_text(server: FakeServer, refused_url: str) -> None:
    lines = [
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        '"delta":{"content":"O"},"finish_reason":null}]}',
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        '"delta":{"content":"K"},"finish_reason":"stop"}]}',
    ]
    body = "".join(f"data: {line}\n\n" for line in lines) + "data: [DONE]\n\n"
    server.respond(CHAT, lambda _request: Reply(200, body, content_type="text/event-stream"))
    model = replicated([refused_url, server.url])
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    completion = await model.stream([user("hi")], collect)

    assert completion.text == "OK" and pieces == ["O", "K"] and not model.status()[0].up
    await model.aclose()


async def test_models_check_probes_each_replica(server: FakeServer, refused_url: str) -> None:
    server.respond(CHAT, lambda _request: OK)
    spec = ModelSpec(name="small", ref="openai:small-model",
                     options={"endpoints": [f"{refused_url}/v1", f"{server.url}/v1"]})

    result = await check_model(spec, timeout=5)

    assert result.ok and result.reply == "OK" and result.replicas is not None
    down, up = result.replicas
    assert (down.ref, down.ok, up.ref, up.ok) == (f"{refused_url}/v1", False, f"{server.url}/v1", True)
    assert result.reason == f"1 of 2 replicas failed ({refused_url}/v1); see each replica"
    assert "connection refused" in (down.reason or "")


@pytest.mark.parametrize(("endpoints", "problem"), [
    ("[]", "options.endpoints must be a non-empty list of URLs"),
    ('["127.0.0.1:8081"]', "options.endpoints[0] '127.0.0.1:8081' must start with http:// or https://"),
    ('["http://:8081/v1"]', "options.endpoints[0] 'http://:8081/v1' has no host"),
    ('["http://127.0.0.1:8081/v1", "http://127.0.0.1:8081/v1/"]', "options.endpoints[1] "
     "'http://127.0.0.1:8081/v1/' is listed twice"),
    ('["http://127.0.0.1:x/v1"]', "options.endpoints[0] 'http://127.0.0.1:x/v1' is not a valid URL"),
    ('"http://127.0.0.1:8081/v1"', "options.endpoints must be a non-empty list of URLs"),
    ('["http://127.0.0.1:8081/v1"], replica_backoff = 0', "options.replica_backoff is 0; it must be a number "
     "of seconds above 0"),
    ('["http://127.0.0.1:8081/v1"], replica_backoff_max = "long"', "options.replica_backoff_max is 'long'"),
])
def test_bad_endpoints_are_a_config_error_naming_the_entry(tmp_path: Path, endpoints: str, problem: str) -> None:
    path = tmp_path / "orchestrator.toml"
    path.write_text(f'[models.small]\nref = "openai:m"\noptions = {{ endpoints = {endpoints} }}\n')
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    assert info.value.key is not None and info.value.key.startswith("models.small")
    assert problem in str(info.value)


@pytest.mark.parametrize(("ref", "options", "problem"), [
    ("llamacpp:/m.gguf", {"endpoints": ["http://127.0.0.1:1/v1"]}, "a llamacpp: model runs in this process"),
    ("openai:m", {"endpoints": ["http://127.0.0.1:1/v1"], "base_url": "http://127.0.0.1:2/v1"},
     "options.endpoints and options.base_url both name servers"),
    ("ollama:m", {"endpoints": ["http://127.0.0.1:1"], "host": "http://127.0.0.1:2"},
     "options.endpoints and options.host both name servers"),
])
def test_endpoints_only_replace_the_one_server_option(ref: str, options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ModelSpec(ref=ref, options=options)


def test_models_check_cli_prints_a_line_per_replica(server: FakeServer, refused_url: str, tmp_path: Path) -> None:
    from tests.test_cli import cli

    server.respond(CHAT, lambda _request: OK)
    path = tmp_path / "orchestrator.toml"
    path.write_text(f'[models.small]\nref = "openai:small-model"\n'
                    f'options = {{ endpoints = ["{refused_url}/v1", "{server.url}/v1"] }}\n')

    proc = cli("models", "check", "small", config=path)

    assert proc.returncode == 0, proc.stdout + proc.stderr  # ok while any replica answers
    model, down, up = proc.stdout.splitlines()
    assert model.startswith("ok   small") and "openai:small-model" in model
    assert down.split()[:3] == ["replica", f"{refused_url}/v1", "FAIL"] and "connection refused" in down
    assert up.split()[:3] == ["replica", f"{server.url}/v1", "ok"]


async def test_each_change_of_a_replica_is_handed_to_the_listener_of_the_call_that_saw_it(
        servers: list[FakeServer]) -> None:
    flaky, steady, _ = servers
    flaky.script(CHAT, openai_error(503, "overloaded"))
    flaky.respond(CHAT, lambda _request: OK)
    steady.respond(CHAT, lambda _request: OK)
    clock = Clock()
    model = replicated([flaky.url, steady.url], clock=clock)
    seen: list[ReplicaChange] = []

    async def listen(change: ReplicaChange) -> None:
        seen.append(change)

    await model.complete([user("unheard")])  # no listener: the change is only logged
    assert model.status()[0].failures == 1 and seen == []
    model = replicated([flaky.url, steady.url], clock=clock)
    flaky.script(CHAT, openai_error(503, "overloaded again"))
    with noticing(listen):
        await model.complete([user("hi")])
        for _ in range(2):  # still out: no new change
            await model.complete([user("hi")])
        clock.now += 1.5
        for _ in range(2):  # bounded: idle replicas take turns, so the flaky one comes up within two calls
            await model.complete([user("hi")])

    down, up = seen
    assert down == ReplicaChange("openai:small-model", f"{flaky.url}/v1", up=False, operation="chat", failures=1,
                                 reason="HTTP 503: overloaded again", retry_in_s=1.0)
    assert up == ReplicaChange("openai:small-model", f"{flaky.url}/v1", up=True, operation="chat", failures=1)
    assert down.kind == "model.replica_down" and up.data() == {
        "model": "openai:small-model", "endpoint": f"{flaky.url}/v1", "operation": "chat", "failures": 1}
    await model.aclose()


async def test_a_failing_listener_does_not_fail_the_call(server: FakeServer, refused_url: str) -> None:
    server.respond(CHAT, lambda _request: OK)
    model = replicated([refused_url, server.url])

    async def broken(change: ReplicaChange) -> None:
        raise RuntimeError("the event sink is down")

    with noticing(broken):
        assert (await model.complete([user("hi")])).text == "OK"
    assert not model.status()[0].up
    await model.aclose()
