"""``python -m orchestrator``: the same command as ``orchestrator``."""

from orchestrator.interfaces.cli import main

raise SystemExit(main())
