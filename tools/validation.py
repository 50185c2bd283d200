"""Check data (typically a specialist's extraction) against a JSON schema.

The checks are the subset of JSON Schema that extraction schemas use; see
``tools/_schema.py`` for the keywords. Errors read ``"path: message"``, e.g.
``"date: '03/05/2024' is not a date as YYYY-MM-DD"`` or
``"items.0.price: expected number, got string"`` (``$`` is the whole value).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.specialist import Tool
from orchestrator.tools._schema import validate


class ValidateJSONInput(BaseModel):
    """What :class:`ValidateJSON` reads."""

    model_config = ConfigDict(populate_by_name=True)

    data: Any = Field(description="The value to check, e.g. '$steps.extract.data'.")
    json_schema: dict[str, Any] = Field(alias="schema", description="The JSON schema the data must satisfy.")


class ValidateJSONOutput(BaseModel):
    """Whether the data is valid, and every reason it is not."""

    valid: bool = Field(description="True when the data satisfies the schema.")
    errors: list[str] = Field(description="One 'path: message' line per problem; empty when valid.")


class ValidateJSON(Tool[ValidateJSONInput, ValidateJSONOutput]):
    """Validates data against a JSON schema, deterministically."""

    name = "validate_json"
    description = (
        "Check a JSON value (data) against a JSON schema (schema): types, required fields, enums, "
        "number ranges, string patterns and formats such as date (YYYY-MM-DD). Returns valid (bool) "
        "and errors, one 'path: message' line per problem. Use it after an extraction to confirm the "
        "fields are complete and well-formed. Deterministic, no model."
    )
    Input = ValidateJSONInput
    Output = ValidateJSONOutput

    def run(self, request: ValidateJSONInput) -> ValidateJSONOutput:
        errors = validate(request.data, request.json_schema)
        return ValidateJSONOutput(valid=not errors, errors=errors)


__all__ = ["ValidateJSON", "ValidateJSONInput", "ValidateJSONOutput", "validate"]
