"""Ready-made workflows: ticket triage, invoice extraction, document digest.

Each module holds a module-level ``workflow`` (registered through the
``orchestrator.workflows`` entry points) and a ``build()`` that makes a fresh
copy to adapt, e.g. with other labels or routing.
"""

from orchestrator.workflows.document_digest import workflow as document_digest_workflow
from orchestrator.workflows.invoice_extraction import workflow as invoice_extraction_workflow
from orchestrator.workflows.ticket_triage import workflow as ticket_triage_workflow

__all__ = ["document_digest_workflow", "invoice_extraction_workflow", "ticket_triage_workflow"]
