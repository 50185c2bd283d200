"""A stand-in for a llama.cpp build that runs: it decodes one fixed answer.

Every ``Llama(...)`` appends a line to the file ``$FAKE_LLAMA_CPP_LOADS`` (when set), so a
test can count probe children. A model path that does not exist raises ValueError, as
llama_cpp does.
"""

import os
from typing import Any


class Llama:
    def __init__(self, model_path: str, **kwargs: Any) -> None:
        record = os.environ.get("FAKE_LLAMA_CPP_LOADS")
        if record:
            with open(record, "a") as out:
                out.write(f"{os.getpid()}\n")
        if not os.path.exists(model_path):
            raise ValueError(f"Failed to load model from file: {model_path}")

    def create_completion(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        return {"choices": [{"text": " Paris."}], "usage": {"completion_tokens": 2}}

    def close(self) -> None:
        pass
