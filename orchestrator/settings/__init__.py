"""The configuration of one deployment: models, specialists, planner, budget, state, interfaces.

``sections`` holds the section models, ``deployment`` the :class:`Settings` that holds them;
the private modules read the sources (``_sources``), word the problems (``_problems``) and hide
secrets for display (``_masking``).

:meth:`Settings.load` merges these layers, lowest priority first:

1. a packaged profile (``orchestrator/profiles/<name>.toml``);
2. a TOML file: top-level keys, or the ``[tool.orchestrator]`` table of a ``pyproject.toml``;
3. a dotenv file (``ORCHESTRATOR_ENV_FILE``, else ``./.env`` if there is one) with the same
   variables as the environment;
4. the environment: ``ORCHESTRATOR_*`` (nested keys joined by ``__``, e.g.
   ``ORCHESTRATOR_BUDGET__MAX_COST_USD``), plus ``REDIS_URL`` and ``ORCHESTRATOR_API_KEYS``;
5. keyword arguments to :meth:`Settings.load`.

Which file and profile: the ``path`` argument, else ``ORCHESTRATOR_CONFIG``; the
``profile`` argument, else ``ORCHESTRATOR_PROFILE``, else the file's own
``profile`` key. With neither a file nor a profile named, ``./orchestrator.toml``
is used if it exists, else ``[tool.orchestrator]`` of ``./pyproject.toml``, else
the ``embedded`` profile.

Invalid configuration raises :class:`~orchestrator.errors.ConfigError`, one line per
problem, each naming where the value came from, its key and what is wrong::

    orchestrator.toml: specialists.classifier.threshold: Input should be less than or equal to 1, got 1.5
"""

from orchestrator.settings._sources import (
    CONFIG_ENV,
    CONFIG_FILE,
    DEFAULT_PROFILE,
    PROFILE_ENV,
    available_profiles,
)
from orchestrator.settings.deployment import Settings
from orchestrator.settings.sections import (
    Budget,
    ExecutorSettings,
    HttpSettings,
    LearningSettings,
    LogSettings,
    PlannerSettings,
    QueueSettings,
    RedisSettings,
)

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "DEFAULT_PROFILE",
    "PROFILE_ENV",
    "Budget",
    "ExecutorSettings",
    "HttpSettings",
    "LearningSettings",
    "LogSettings",
    "PlannerSettings",
    "QueueSettings",
    "RedisSettings",
    "Settings",
    "available_profiles",
]
