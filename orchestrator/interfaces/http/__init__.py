"""The HTTP interface: jobs API with SSE events, chat threads, an OpenAI-compatible endpoint, the web chat.

>>> app = create_app(orchestrator, settings)
"""

from orchestrator.interfaces.http.app import create_app
from orchestrator.interfaces.http.auth import ApiKeys
from orchestrator.interfaces.http.backends import JobBackend, LocalJobs, check_target, create_backend
from orchestrator.interfaces.http.errors import ApiError

__all__ = ["ApiError", "ApiKeys", "JobBackend", "LocalJobs", "check_target", "create_app",
           "create_backend"]
