"""The README's Workflow, runnable: define a workflow in Python, then run the object itself.

    python examples/workflow_in_code.py          # models from ./orchestrator.toml or the packaged defaults

``orch.run(wf, ...)`` runs a Workflow object without registering it. To queue it for workers
(``orch.submit``), register it (``Registry.add_workflow`` or the ``orchestrator.workflows``
entry point) and submit its name: workers look workflows up by name.
"""

from __future__ import annotations

import asyncio

from orchestrator import Input, Orchestrator, RunResult, Workflow

wf = Workflow("triage", "Classify and summarise a ticket", inputs={"ticket": Input(str)})
kind = wf.step("kind", "classifier", text=wf.input.ticket, params={"labels": ["billing", "bug"]})
gist = wf.step("gist", "summarizer", text=wf.input.ticket, params={"max_words": 30})
wf.output(category=kind.label, summary=gist.summary)

TICKET = ("I was charged twice for my May invoice. Please refund the second payment. "
          "My card ends in 4242 and the invoice number is INV-2291.")


async def main(orch: Orchestrator | None = None) -> RunResult:
    """Run ``wf`` on the sample ticket and print its answer and per-step trace."""
    async with orch or Orchestrator() as running:
        result = await running.run(wf, {"ticket": TICKET})
    print(result.answer)
    for step in result.steps:
        print(f"{step.step_id}: {step.status} on {step.model or 'a tool'} in {step.latency_ms:.0f} ms")
    return result


if __name__ == "__main__":
    asyncio.run(main())
