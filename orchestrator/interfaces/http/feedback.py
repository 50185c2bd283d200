"""``POST /v1/runs/{run_id}/feedback``: a person's correction of a step becomes a labelled example."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from orchestrator.interfaces.http.auth import KeyedRoute
from orchestrator.interfaces.http.schemas import ErrorResponse


class FeedbackRequest(BaseModel):
    """What a step should have answered."""

    step_id: str = Field(min_length=1, max_length=200, description="The step of the run being corrected.")
    output: dict[str, Any] = Field(description='The correct output, e.g. {"label": "billing"}.')


class FeedbackAccepted(BaseModel):
    run_id: str
    step_id: str
    specialist: str
    example_id: str


router = APIRouter(prefix="/v1", route_class=KeyedRoute,
                   responses={code: {"model": ErrorResponse} for code in (400, 401, 422)})


@router.post("/runs/{run_id}/feedback", response_model=FeedbackAccepted,
             summary="Correct a step of a run (kept as a labelled example for distillation)")
async def feedback(run_id: str, body: FeedbackRequest, request: Request) -> FeedbackAccepted:
    example = await request.app.state.orchestrator.feedback(run_id, body.step_id, body.output)
    return FeedbackAccepted(run_id=run_id, step_id=body.step_id, specialist=example.specialist,
                            example_id=example.id)


__all__ = ["FeedbackAccepted", "FeedbackRequest", "router"]
