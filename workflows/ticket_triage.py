"""Ticket triage: classify a support ticket, pull out its key fields, summarise it and route it.

::

    ticket ─┬─ category (classifier) ─┐
            ├─ urgency  (classifier) ─┼─ routing (route_ticket)
            ├─ fields   (extractor)  ─┘
            └─ summary  (summarizer)

    answer = {category, urgency, fields, summary, routing}

The four model steps read only the ticket, so they run in parallel; routing is
a deterministic table lookup (``tools.routing``) over their results. Label
descriptions are written for both a small generative model and an embedding
classifier: each says what a customer in that situation typically writes.
"""

from __future__ import annotations

from typing import Any

from orchestrator.workflow import Input, Workflow

CATEGORIES: list[dict[str, str]] = [
    {"name": "billing", "description": "Questions or problems with charges, invoices, payment methods, "
     "subscriptions or plans: a double charge, a wrong amount, an invoice copy, a failed card payment."},
    {"name": "refund", "description": "The customer wants their money back: returning an order or item, "
     "cancelling a purchase, asking where a promised refund is or why it has not arrived."},
    {"name": "shipping", "description": "Delivery of a physical order: where is my package, tracking not "
     "updating, late, lost or damaged parcel, wrong delivery address, missing items in the box."},
    {"name": "account_access", "description": "Cannot sign in or use the account: forgotten or reset "
     "password, locked or suspended account, two-factor codes not arriving, changing email or login."},
    {"name": "technical_issue", "description": "The product or service does not work as it should: "
     "errors, crashes, outages, slow or broken features, failing API calls, app or website bugs."},
    {"name": "feature_request", "description": "A suggestion or wish for something the product does not "
     "do yet: a new feature, an integration, an option or an improvement to an existing feature."},
    {"name": "other", "description": "Anything else: general questions, feedback or praise, partnership "
     "or press enquiries, messages that fit none of the other categories."},
]

URGENCIES: list[dict[str, str]] = [
    {"name": "low", "description": "No time pressure and nothing is broken: a question, an idea, feedback "
     "or a request that can wait days."},
    {"name": "normal", "description": "A real problem for one customer that should be handled in the usual "
     "time, without signs of urgency, deadlines or business impact."},
    {"name": "high", "description": "The customer is blocked, losing money or upset, mentions a deadline, "
     "asks for a reply today, or has already contacted support before without a fix."},
    {"name": "critical", "description": "An outage, a security or data-loss problem, or something that "
     "stops many users or a whole business from working right now; production is down."},
]

FIELDS: dict[str, str] = {
    "customer_name": "Full name of the customer who wrote the ticket (as they sign it), or null.",
    "email": "The customer's email address, or null.",
    "order_number": "Order, invoice or reference number the ticket is about, such as ORD-12345, or null.",
    "product": "The product, plan or service the ticket is about (a device, an app, a subscription), "
               "or null.",
}

ROUTING: dict[str, Any] = {
    "routes": {
        "billing": "billing_team",
        "refund": "billing_team",
        "shipping": "logistics_team",
        "account_access": "identity_team",
        "technical_issue": "engineering_support",
        "feature_request": "product_team",
        "other": "general_support",
    },
    "default_team": "general_support",
    "escalate_urgencies": ["critical"],
    "escalation_team": "incident_response",
    "required_fields": {
        "refund": ["order_number"],
        "shipping": ["order_number"],
        "billing": ["email"],
        "account_access": ["email"],
    },
}


def build() -> Workflow:
    """The ticket triage workflow (a new object on each call)."""
    wf = Workflow(
        "ticket_triage",
        "Classify a support ticket's category and urgency, extract the customer's details, summarise "
        "it in one sentence and route it to a team with a priority.",
        inputs={"ticket": Input(str, "The support ticket or customer email, as plain text.")},
    )
    ticket = wf.input.ticket
    category = wf.step("category", "classifier", instruction="What is this support ticket about?",
                       params={"labels": CATEGORIES}, text=ticket)
    urgency = wf.step("urgency", "classifier", instruction="How urgent is this support ticket?",
                      params={"labels": URGENCIES}, text=ticket)
    fields = wf.step("fields", "extractor", instruction="Extract the customer's details from the ticket.",
                     params={"fields": FIELDS, "required": []}, text=ticket)
    summary = wf.step("summary", "summarizer",
                      instruction="Say in one sentence who wants what, for a support agent.",
                      params={"max_words": 30, "style": "one_sentence"}, text=ticket)
    routing = wf.step("routing", "route_ticket", instruction="Route the ticket by the routing table.",
                      params=ROUTING, category=category.label, urgency=urgency.label, fields=fields.data)
    wf.output(category=category.label, urgency=urgency.label, fields=fields.data,
              summary=summary.summary, routing=routing)
    return wf


workflow = build()

__all__ = ["CATEGORIES", "FIELDS", "ROUTING", "URGENCIES", "build", "workflow"]
