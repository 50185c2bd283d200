"""The HTTP interface: jobs API with SSE events, chat threads, an OpenAI-compatible endpoint, the web chat.

>>> app = create_app(orchestrator, settings)
"""

from orchestrator.http.app import create_app
from orchestrator.http.auth import ApiKeys
from orchestrator.http.backends import JobBackend, LocalJobs, QueueJobs, check_target, create_backend
from orchestrator.http.errors import ApiError

__all__ = ["ApiError", "ApiKeys", "JobBackend", "LocalJobs", "QueueJobs", "check_target", "create_app",
           "create_backend"]
