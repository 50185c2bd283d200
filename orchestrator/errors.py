"""The orchestrator's exceptions: one root, split two ways.

::

    OrchestratorError                 anything raised by this library
    ├── UserError                     the caller misused the library; fix the call or the config
    │   ├── ConfigError               invalid configuration (file, key, reason)
    │   ├── UnknownNameError          an agent, tool, workflow or model that is not registered
    │   ├── InputError                a run's inputs are missing or malformed
    │   ├── IdempotencyConflict       an idempotency key reused for different work
    │   ├── PluginError               a specialist, tool or workflow defined or registered wrongly (TypeError)
    │   └── MissingDependency         an optional package is not installed: which, the extra (ImportError)
    └── RuntimeFailure                something went wrong while running; may be retried or recorded
        ├── PlanError                 a plan is invalid (says which step and what to change)
        │   └── UnresolvedReference   a reference names a value the run does not have (KeyError)
        ├── ModelError                a model call failed (which model, why, retryable or not)
        │   ├── ModelTimeout
        │   └── ModelRequestBlocked   a real model call in a test that did not opt in
        ├── PrivacyViolation          confidential data would reach a non-local model
        ├── StepFailed                a step failed for good (which step, the reason)
        ├── BudgetExceeded            a run's token or money budget is spent (keeps partial results)
        ├── StoreError                the run store / queue backend is unreachable or failed
        └── JobError                  a queued job failed, was cancelled or is unknown
            └── LeaseLost             an attempt's write refused: another attempt owns the job now

Control flow is not an exception here: a specialist that wants another attempt returns a
:class:`~orchestrator.specialist.Verdict` with ``problems``, and the router repairs or escalates.
Classes marked with a builtin also subclass it, so ``except KeyError`` / ``except TypeError``
written against the builtin these calls raised before keeps working.
"""
from __future__ import annotations

from typing import Any


class OrchestratorError(Exception):
    """Root of every exception this library raises."""


# -- developer misuse -------------------------------------------------------


class UserError(OrchestratorError):
    """The library was used wrongly: the message says what to change."""


class ConfigError(UserError):
    """Configuration is invalid: names the source, the key and the reason."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message
        self.source = source
        self.key = key

    def located(self, source: str | None) -> ConfigError:
        """The same problem, naming the file (or variable) the value came from."""
        return ConfigError(self.reason, source=source or self.source, key=self.key)


class UnknownNameError(UserError):
    """A name (agent, tool, workflow, model) that nothing registered."""

    def __init__(self, kind: str, name: str, known: list[str]):
        import difflib

        hint = ", ".join(sorted(known)) or "none"
        close = difflib.get_close_matches(name, known, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"unknown {kind} {name!r}{guess}; known {kind}s: {hint}")
        self.kind = kind
        self.name = name
        self.known = known


class InputError(UserError):
    """A run's inputs are missing, unreadable or of the wrong shape."""


class PluginError(UserError, TypeError):
    """A specialist, tool or workflow is defined or registered wrongly: ``plugin`` names it (an agent
    or workflow name, an entry point, or the object's repr), ``reason`` says what to change."""

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"{plugin}: {reason}")
        self.plugin = plugin
        self.reason = reason


class IdempotencyConflict(UserError):
    """An idempotency key was reused for different work (HTTP says 409 Conflict)."""

    def __init__(self, key: str, job_id: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for job {job_id} with a different "
                         "target or inputs; use a new key for new work")
        self.key = key
        self.job_id = job_id


class MissingDependency(UserError, ImportError):
    """An optional package is not installed: names it (also as ``name``, like ImportError), what
    needs it and the extra that brings it."""

    def __init__(self, package: str, *, extra: str, needed_for: str) -> None:
        self.install = f"pip install 'slm-orchestrator[{extra}]'"
        """The command that installs it."""
        super().__init__(f"{needed_for} needs {package}, which is not installed; install it with: {self.install}",
                         name=package)
        self.package = package
        self.extra = extra
        self.needed_for = needed_for


# -- runtime failures -------------------------------------------------------


class RuntimeFailure(OrchestratorError):
    """Something failed while running; recorded on the run, sometimes retried."""


class PlanError(RuntimeFailure):
    """A plan is invalid. ``problems`` lists each problem in words a model can act on."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid plan: " + "; ".join(self.problems))


class UnresolvedReference(PlanError, KeyError):
    """A reference (``$input.x``, ``$steps.y.field``, ``$item``) names a value the run does not have.

    ``reference`` is the reference as written; the message (``args[0]``) says which part is missing.
    """

    def __init__(self, reference: str, reason: str) -> None:
        RuntimeFailure.__init__(self, reason)
        self.problems = [reason]
        self.reference = reference
        self.reason = reason

    def __str__(self) -> str:  # the message, not KeyError's repr of it
        return self.reason


class ModelError(RuntimeFailure):
    """A model call failed. ``retryable`` is true for transient failures (5xx, connection)."""

    def __init__(self, model: str, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(f"{model}: {message}")
        self.model = model
        self.reason = message
        self.retryable = retryable
        self.status = status


class ModelTimeout(ModelError):
    """A model did not answer in time."""

    def __init__(self, model: str, seconds: float):
        super().__init__(model, f"no answer within {seconds:g}s", retryable=True)
        self.seconds = seconds


class ModelRequestBlocked(ModelError):
    """A real model request was made in a test that did not opt in."""

    def __init__(self, model: str):
        super().__init__(
            model,
            "real model requests are blocked in tests; use ScriptedModel, or mark the test "
            "with @pytest.mark.allow_model_requests",
        )


class PrivacyViolation(RuntimeFailure):
    """Confidential content would have been sent to a model that is not local.

    Raised from a step, ``partial`` holds the step's result so far (its attempts, tokens, cost).
    """

    def __init__(self, model: str, step: str | None = None):
        where = f" in step {step!r}" if step else ""
        super().__init__(
            f"confidential input{where} may only go to local models, and {model!r} is not local"
        )
        self.model = model
        self.step = step
        self.partial: Any = None


class StepFailed(RuntimeFailure):
    """A step failed for good."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"step {step!r} failed: {reason}")
        self.step = step
        self.reason = reason


class BudgetExceeded(RuntimeFailure):
    """A run spent its budget: no further model call is made.

    ``partial`` holds what was done before the stop: raised from a step, the step's result so
    far (its attempts, tokens and cost). The budget is checked before each call, so the call
    that crosses the limit completes and is paid for.
    """

    def __init__(self, what: str, limit: float, spent: float, partial: Any = None):
        super().__init__(f"{what} budget exceeded: spent {spent:g} of {limit:g}")
        self.what = what
        self.limit = limit
        self.spent = spent
        self.partial = partial


class StoreError(RuntimeFailure):
    """The store or queue backend is unreachable or returned an error."""


class JobError(RuntimeFailure):
    """A queued job failed, was cancelled, or does not exist."""

    def __init__(self, job_id: str, message: str):
        super().__init__(f"job {job_id}: {message}")
        self.job_id = job_id
        self.reason = message


class LeaseLost(JobError):
    """A write of a job's attempt was refused (never applied): the attempt no longer owns the job
    (another worker took it over, or it ended). Carries the job and the stale attempt's number."""

    def __init__(self, job_id: str, attempt: int, what: str):
        super().__init__(job_id, f"attempt {attempt} no longer owns the job; its {what} was not applied")
        self.attempt = attempt
        self.what = what


__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "IdempotencyConflict",
    "InputError",
    "JobError",
    "LeaseLost",
    "MissingDependency",
    "ModelError",
    "ModelRequestBlocked",
    "ModelTimeout",
    "OrchestratorError",
    "PlanError",
    "PluginError",
    "PrivacyViolation",
    "RuntimeFailure",
    "StepFailed",
    "StoreError",
    "UnknownNameError",
    "UnresolvedReference",
    "UserError",
]
