"""The interfaces people use: the CLI, the HTTP API (with the OpenAI-compatible endpoint and the
web chat) and the chat core both chats share. The top layer: it may import anything below it."""

__all__: list[str] = []
