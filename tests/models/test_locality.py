"""Which models count as local: the parsed host decides, never a substring of the URL."""

from __future__ import annotations

import pytest

from orchestrator.models.spec import ModelSpec, is_local_url
from orchestrator.settings import Settings

LOCAL = [
    "http://127.0.0.1:8080/v1",
    "http://127.0.0.1/v1",
    "http://127.3.4.5:11434",
    "http://localhost:8000/v1",
    "http://LOCALHOST:8000/v1",  # host names are case-insensitive; this is the name localhost
    "https://localhost/v1",
    "http://[::1]:8080/v1",
    "http://[0:0:0:0:0:0:0:1]:8080/v1",
    "http://user:secret@127.0.0.1:8080/v1",
    "http+unix://%2Frun%2Fllama.sock/v1",
    "unix:///run/llama.sock",
]

NOT_LOCAL = [
    "https://api.openai.com/v1",
    "https://localhost.attacker.example/v1",
    "https://LOCALHOST.attacker.example/v1",
    "https://attacker.example/localhost/v1",
    "https://attacker.example/v1?via=127.0.0.1",
    "https://attacker.example/v1#127.0.0.1",
    "http://127.0.0.1.nip.io/v1",
    "http://127.0.0.1.attacker.example/v1",
    "http://localhost.:8000/v1",  # a trailing dot asks DNS, not /etc/hosts
    "http://127.0.0.1./v1",
    "http://127.0.0.1@evil.example/v1",
    "http://localhost:8080@evil.example/v1",
    "http://127.0.0.1\\@evil.example/v1",
    "http://evil.example#@127.0.0.1/v1",
    "http://127.0.0.1%2f@evil.example/v1",
    "http://[::ffff:127.0.0.1]/v1",  # IPv4-mapped: not the loopback interface by address
    "http://[::1].evil.example/v1",
    "http://[fe80::1]/v1",
    "http://0.0.0.0:8080/v1",
    "http://2130706433/v1",  # 127.0.0.1 as one number: some resolvers say loopback, we do not guess
    "http://0177.0.0.1/v1",
    "http://127.1/v1",
    "http://my-localhost/v1",
    "http://gpu-box.internal:8000/v1",  # local only when declared
    "",
    "localhost",
    "not a url",
    "http://",
]


@pytest.mark.parametrize("url", LOCAL)
def test_loopback_hosts_and_sockets_are_local(url: str) -> None:
    assert is_local_url(url)
    assert ModelSpec(ref="openai:m", options={"base_url": url}).is_local


@pytest.mark.parametrize("url", NOT_LOCAL)
def test_tricky_urls_are_not_local(url: str) -> None:
    assert not is_local_url(url)
    assert not ModelSpec(ref="openai:m", options={"base_url": url}).is_local


@pytest.mark.parametrize("url", ["http://gpu-box.internal:8000/v1", "https://GPU-BOX.internal/v1"])
def test_declared_hosts_are_local(url: str) -> None:
    assert is_local_url(url, ["gpu-box.internal"])
    box = {"ref": "openai:m", "options": {"base_url": url}}
    settings = Settings(local_hosts=["gpu-box.internal"], models={"box": box})
    assert settings.models["box"].is_local


@pytest.mark.parametrize("url", ["http://gpu-box.internal.attacker.example/v1", "http://evil.example/gpu-box.internal",
                                 "http://gpu-box.internal@evil.example/v1"])
def test_declared_hosts_match_the_whole_host_only(url: str) -> None:
    assert not is_local_url(url, ["gpu-box.internal"])


def test_local_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_LOCAL_HOSTS", "gpu-box.internal, llm.lan")
    settings = Settings.load(models={"lan": {"ref": "openai:m", "options": {"base_url": "http://llm.lan/v1"}}})
    assert settings.local_hosts == ["gpu-box.internal", "llm.lan"]
    assert settings.models["lan"].is_local


def test_an_explicit_local_flag_stands() -> None:
    settings = Settings(local_hosts=["gpu-box.internal"], models={
        "declared": {"ref": "openai:m", "local": True, "options": {"base_url": "https://llm.example/v1"}},
        "refused": {"ref": "openai:m", "local": False, "options": {"base_url": "http://gpu-box.internal/v1"}},
    })
    assert settings.models["declared"].is_local
    assert not settings.models["refused"].is_local


def test_openai_without_base_url_is_the_cloud() -> None:
    assert not ModelSpec(ref="openai:gpt-4o-mini").is_local


@pytest.mark.parametrize(("host", "local"), [
    (None, True), ("http://127.0.0.1:11434", True), ("localhost:11434", True),
    ("https://ollama.attacker.example", False), ("localhost.attacker.example:11434", False),
    ("gpu-box:11434", False),
])
def test_ollama_locality_follows_its_host(host: str | None, local: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    options = {"host": host} if host else {}
    assert ModelSpec(ref="ollama:qwen2.5:0.5b", options=options).is_local is local


def test_ollama_host_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "https://ollama.example.com")
    assert not ModelSpec(ref="ollama:qwen2.5:0.5b").is_local


@pytest.mark.parametrize("ref", ["llamacpp:/models/m.gguf", "st:all-minilm-l6-v2", "scripted:x"])
def test_in_process_models_are_local(ref: str) -> None:
    assert ModelSpec(ref=ref).is_local
