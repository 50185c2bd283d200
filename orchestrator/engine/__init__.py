"""The engine: finding agents by name, planning, routing attempts to models, running plans.

``registry`` finds specialists, tools and workflows through entry points; ``planner`` turns a
task into a Plan; ``router`` walks a specialist's model cascade; ``executor`` runs a Plan on
LangGraph; ``app`` holds them together as the :class:`~orchestrator.Orchestrator`. The public
names are re-exported by :mod:`orchestrator`.
"""

__all__: list[str] = []
