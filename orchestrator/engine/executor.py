"""Runs a Plan on LangGraph: eager dispatch, durable step results, resume.

Each step is a LangGraph ``task``; the run is an ``entrypoint``. Every task is
*called* up front, in the plan's topological order, so task ids are the same
on every execution of the run, which is what lets the checkpointer hand back a
completed step's result on resume instead of running it again. A called task
waits in-process for the steps it depends on and starts the moment they have
finished: there are no level-by-level waves, so wall time follows the
critical path.

A step with ``for_each`` fans out: once its list is known it calls one task
per item, in item order (stable ids again, so a resumed run keeps the items
that finished), and gathers their results, in order, into one StepResult.
Each item takes a slot of the run's ``max_parallel_steps`` (the step itself
takes none) and the step timeout applies to each item.

A run whose checkpoint shows it finished is not run again: ``execute`` hands
back the stored result. A failed step is recorded with its reason and its
dependants are skipped. The caller may supply a ``replan`` callback; it is
asked once, after a failure, for a new plan, which then runs in a second phase.

The run's end event is not emitted here but by whoever records the outcome (see
:mod:`orchestrator.events`): a run that fails after it (saving its record) never ends its stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from pydantic import BaseModel, ValidationError

from orchestrator import telemetry
from orchestrator.engine._results import (
    answer_of,
    as_result,
    budget_failure,
    failed_result,
    gathered,
    run_status,
    sensitivities,
    step_event,
)
from orchestrator.engine.guard import RunGuard
from orchestrator.engine.registry import Registry
from orchestrator.engine.router import Router
from orchestrator.errors import BudgetExceeded, OrchestratorError, PlanError, PrivacyViolation
from orchestrator.events import EventSink, silent
from orchestrator.logging import bound, get_logger
from orchestrator.models.base import Usage
from orchestrator.models.loading import recording_loads
from orchestrator.models.streaming import listening
from orchestrator.plan import NO_ITEM, Plan, Step, resolve
from orchestrator.settings import ExecutorSettings
from orchestrator.specialist import Specialist, Tool
from orchestrator.types import CostReport, Event, EventType, PlannedBy, RunResult, RunStatus, Sensitivity, StepResult

log = get_logger(__name__)

PlanSource = Callable[[], Awaitable[Plan]]
Replanner = Callable[[Plan, list[StepResult]], Awaitable[Plan | None]]


class StepObserver(Protocol):
    """Told about each finished specialist step with the request it ran on."""

    async def observe(self, run_id: str, specialist: str, request: BaseModel, result: StepResult,
                      sensitivity: Sensitivity, *, guard: RunGuard | None = None, instruction: str = "",
                      item: int | None = None) -> None:
        """``guard`` and ``instruction`` are the run's and the step's (an audit asks another model);
        ``item`` is the position of a fan-out's item (None for a plain step)."""

    async def settle(self, run_id: str, steps: list[StepResult]) -> list[StepResult]:
        """As the run finishes: ``steps`` with what the observer spent on them since (audits)."""


@dataclass
class RunSpec:
    """Everything one execution needs, besides the plan."""

    run_id: str
    inputs: Mapping[str, Any]
    sensitivity: Mapping[str, Sensitivity]
    sink: EventSink
    guard: RunGuard = field(default_factory=RunGuard)
    make_plan: PlanSource | None = None
    replan: Replanner | None = None
    planner_cost: Callable[[], float] = lambda: 0.0
    planner_usage: Callable[[], Usage] = Usage
    baseline_model: str | None = None
    planned_by: PlannedBy | None = None
    """The tier that planned the run; a replan by the planner model may change it."""
    planner_model: str | None = None
    """The model that plans a free-form task (None: the plan is given or compiled)."""
    fresh: bool = False
    """The run id was made for this run (no checkpoint can hold it): skip looking for one."""


@dataclass(frozen=True, slots=True)
class _FanOut:
    """What the items of one for_each step read."""

    items: list[Any]
    outputs: Mapping[str, Any]


@dataclass
class _Phase:
    plan: Plan
    done: dict[str, asyncio.Future[StepResult]]
    index: int = 0
    results: dict[str, StepResult] = field(default_factory=dict)
    sensitivity: dict[str, Sensitivity] = field(default_factory=dict)
    fan_outs: dict[str, _FanOut] = field(default_factory=dict)


@dataclass
class _Live:
    spec: RunSpec
    limit: asyncio.Semaphore
    phases: dict[int, _Phase] = field(default_factory=dict)
    plans: dict[int, Plan] = field(default_factory=dict)
    """Plans made in this process (a resumed run's plans come back from the checkpoint as data)."""
    direct: bool = False
    """Steps, items and the plan are called as plain coroutines, not LangGraph tasks: a fresh run
    on the executor's own saver is checkpointed at its end only and dropped, so no task's result
    is ever read back, and a task cost more of the loop's CPU than the step's own work."""


class Executor:
    """Executes plans; one instance serves many concurrent runs."""

    def __init__(self, registry: Registry, router: Router, *,
                 checkpointer: BaseCheckpointSaver[Any] | None = None,
                 settings: ExecutorSettings | None = None):
        self.registry = registry
        self.router = router
        self.settings = settings or ExecutorSettings()
        self.checkpointer = checkpointer if checkpointer is not None else InMemorySaver()
        self._forget_finished = checkpointer is None
        """Own in-memory checkpoints of finished fresh runs are dropped: a long batch would keep
        every run's (tens of kB each) for ids no caller chose and nothing outside this process sees.
        Such a run is checkpointed once, at its end, not after every step (13% of the engine's CPU
        per ticket at 32 concurrent runs): nothing could resume it from a step checkpoint."""
        self._live: dict[str, _Live] = {}
        self.observer: StepObserver | None = None
        """Sees every finished specialist step (the learning collector), if set."""

        self._entry = entrypoint(checkpointer=self.checkpointer)(_run_entry)

    async def execute(self, spec: RunSpec, plan: Plan | None = None) -> RunResult:
        """Run (or resume, for a run id the checkpointer knows) one plan to its RunResult.

        A run id whose run already finished returns the stored result without running anything.
        """
        if plan is not None:
            fixed = plan

            async def given() -> Plan:
                return fixed

            spec.make_plan = given
        if spec.make_plan is None:
            raise ValueError("execute() needs a plan or a RunSpec.make_plan")
        throwaway = spec.fresh and self._forget_finished
        self._live[spec.run_id] = _Live(spec, asyncio.Semaphore(self.settings.max_parallel_steps), direct=throwaway)
        config: RunnableConfig = {"configurable": {"thread_id": spec.run_id}}
        started = time.perf_counter()
        token = _EXECUTOR.set(self)  # the module-level tasks find this executor through it
        try:
            with bound(run_id=spec.run_id):
                state = None if spec.fresh else await self._entry.aget_state(config)
                pending = state.next if state is not None else ()
                if state is not None and not pending and state.values:  # it finished already (e.g. a crash before
                    log.info("run.already_finished")  # the caller recorded it): hand back the stored result, run
                    payload = state.values  # nothing (its events went out when it ran; none are repeated)
                else:
                    resume = bool(pending)  # an interrupted run of this id: continue it
                    if resume:
                        log.info("run.resume", pending=len(pending))
                    try:
                        payload = await self._entry.ainvoke(None if resume else spec.run_id, config, durability=(
                            "exit" if throwaway else self.settings.durability))
                    finally:  # returned or raised (a failing planner, a cancelled run): nothing resumes it
                        if throwaway:
                            await self.checkpointer.adelete_thread(spec.run_id)
        finally:
            _EXECUTOR.reset(token)
            del self._live[spec.run_id]
        result = RunResult.model_validate(payload)
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    # -- the entrypoint body ------------------------------------------------

    async def _run(self, run_id: str, plan_task: Any, step_task: Any) -> dict[str, Any]:
        live = self._live[run_id]
        spec = live.spec
        await self._emit(spec, "run.started")
        try:
            plan = self._plan(live, 0, await plan_task(run_id, 0))
        except OrchestratorError as exc:
            status: RunStatus = "budget_exceeded" if isinstance(exc, BudgetExceeded) else "failed"
            return await self._finish(spec, None, [], status, str(exc))
        steps = await self._run_phase(live, 0, plan, step_task)
        replanned = False
        failed = [s for s in steps if s.status == "failed"]
        if failed and spec.replan is not None and not budget_failure(failed):
            try:
                new_plan_data = await plan_task(run_id, 1)
            except BudgetExceeded as exc:  # the planner spent the rest of the budget
                return await self._finish(spec, plan, steps, "budget_exceeded", str(exc))
            if new_plan_data:
                plan, replanned = self._plan(live, 1, new_plan_data), True
                steps = [*steps, *await self._run_phase(live, 1, plan, step_task)]
        last = live.phases[max(live.phases)]
        return await self._finish(spec, plan, steps, run_status(list(last.results.values())), None,
                                  replanned=replanned)

    async def _make_plan(self, run_id: str, phase: int) -> dict[str, Any]:
        with telemetry.plan_span(phase, self._live[run_id].spec.planner_model) as span:
            data = await self._planned(run_id, phase)
            telemetry.record_plan(span, data)
            return data

    async def _planned(self, run_id: str, phase: int) -> dict[str, Any]:
        spec = self._live[run_id].spec
        if phase == 0:
            assert spec.make_plan is not None
            plan = await spec.make_plan()
        else:
            assert spec.replan is not None
            previous = self._live[run_id].phases[0]
            new = await spec.replan(previous.plan, list(previous.results.values()))
            if new is None:
                return {}
            plan = new
        self._check_agents(plan)
        self._live[run_id].plans[phase] = plan
        data = plan.model_dump(mode="json")
        if not silent(spec.sink):
            await self._emit(spec, "plan.ready", data={"plan": data, "phase": phase, "planned_by": spec.planned_by})
        return data

    @staticmethod
    def _plan(live: _Live, phase: int, data: dict[str, Any]) -> Plan:
        return live.plans.get(phase) or Plan.model_validate(data)

    def _check_agents(self, plan: Plan) -> None:
        unknown = [s for s in plan.steps if s.agent not in self.registry.agent_names]
        if unknown:
            known = ", ".join(self.registry.agent_names)
            raise PlanError([f"step {s.id!r} uses unknown agent {s.agent!r}; choose one of: {known}"
                             for s in unknown])

    async def _run_phase(self, live: _Live, index: int, plan: Plan, step_task: Any) -> list[StepResult]:
        loop = asyncio.get_running_loop()
        order = plan.topological_order()
        phase = _Phase(plan, {s.id: loop.create_future() for s in order}, index)
        phase.sensitivity = sensitivities(plan, live.spec.sensitivity)
        live.phases[index] = phase
        # Call every task now, in a fixed order: ids stay stable across resumes.
        calls = {asyncio.ensure_future(step_task(live.spec.run_id, index, s.id)): s for s in order}
        pending = set(calls)
        try:
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for call in finished:
                    step = calls[call]
                    try:
                        result = as_result(call.result())
                    except Exception as exc:
                        result = failed_result(step, str(exc))
                    self._settle(phase, result)  # resolves dependants of results replayed from a checkpoint
        except asyncio.CancelledError:
            for call in pending:  # cancel in-flight steps now; they rerun on resume
                call.cancel()
            raise
        return [phase.results[s.id] for s in order]

    # -- one step -------------------------------------------------------------

    async def _run_step(self, run_id: str, index: int, step_id: str) -> StepResult:
        live = self._live[run_id]
        phase = live.phases[index]
        step = phase.plan.step_map[step_id]
        upstream = {dep: await phase.done[dep] for dep in sorted(step.depends_on)}
        blocked = [d for d, r in upstream.items() if r.status != "completed"]
        if blocked:
            result = StepResult(step_id=step.id, agent=step.agent, status="skipped",
                                error=f"skipped because {', '.join(blocked)} did not complete")
            await self._emit(live.spec, "step.skipped", step.id, {"reason": result.error})
            return self._settle(phase, result)
        slot = live.limit if step.for_each is None else nullcontext()  # a fan-out's items take the slots
        async with slot:
            result = await self._execute_step(live, phase, step, upstream)
        return self._settle(phase, result)

    async def _run_item(self, run_id: str, index: int, step_id: str, position: int) -> StepResult:
        live = self._live[run_id]
        phase = live.phases[index]
        fan_out = phase.fan_outs[step_id]
        step, sensitivity = phase.plan.step_map[step_id], phase.sensitivity[step_id]
        async with live.limit:
            with telemetry.step_span(step_id, step.agent, sensitivity, tool=self._is_tool(step), item=position) as span:
                result = await self._call(live.spec, step, sensitivity, fan_out.outputs, fan_out.items[position],
                                          position)
                telemetry.record_item(span, result, sensitivity)
                return result

    def _is_tool(self, step: Step) -> bool:
        try:
            return isinstance(self.registry.agent(step.agent), Tool)
        except KeyError:
            return False

    def _settle(self, phase: _Phase, result: StepResult) -> StepResult:
        phase.results[result.step_id] = result
        future = phase.done[result.step_id]
        if not future.done():
            future.set_result(result)
        return result

    async def _execute_step(self, live: _Live, phase: _Phase, step: Step,
                            upstream: Mapping[str, StepResult]) -> StepResult:
        spec = live.spec
        sensitivity = phase.sensitivity[step.id]
        heard = not silent(spec.sink)  # nobody follows the run: no event is built, no answer streamed
        if heard:
            await self._emit(spec, "step.started", step.id, {"agent": step.agent, "sensitivity": sensitivity.value,
                                                             "instruction": step.instruction})
        started = time.time()

        async def delta(piece: str, draft: int, model: str) -> None:
            await self._emit(spec, "step.delta", step.id, {"text": piece, "draft": draft, "model": model})

        with (bound(step_id=step.id),
              listening(delta) if heard else nullcontext(), recording_loads() as loads,
              telemetry.step_span(step.id, step.agent, sensitivity, tool=self._is_tool(step)) as span):
            outputs = {k: r.output for k, r in upstream.items()}
            if step.for_each is None:
                result = await self._call(spec, step, sensitivity, outputs)
            else:
                result = await self._fan_out(spec, phase, step, outputs)
            result.started_at, result.finished_at = started, time.time()
            result.load_ms = loads.seconds * 1000  # weights loaded on the way: reported, not counted as answering
            result.latency_ms = max(0.0, (result.finished_at - started) * 1000 - result.load_ms)
            result.sensitivity = sensitivity
            telemetry.record_step(span, result)
        if sensitivity is Sensitivity.CONFIDENTIAL and result.output is not None:
            spec.guard.confidential.add(result.output)
        kind: EventType = "step.finished" if result.status == "completed" else "step.failed"
        log.info(kind, step_id=step.id, agent=step.agent, model=result.model,
                 latency_ms=round(result.latency_ms, 1), status=result.status)
        if heard:
            await self._emit(spec, kind, step.id, step_event(result))
        return result

    async def _call(self, spec: RunSpec, step: Step, sensitivity: Sensitivity, outputs: Mapping[str, Any],
                    item: Any = NO_ITEM, position: int | None = None) -> StepResult:
        """One run of the step's agent (on one ``item`` of a fan-out); every failure becomes a failed result."""
        agent = self.registry.agent(step.agent)
        try:
            raw = step.arguments(spec.inputs, outputs, item=item)
            request = agent.Input.model_validate(raw)
            async with asyncio.timeout(self.settings.step_timeout):
                return await self._dispatch(agent, step, request, sensitivity, spec, position)
        except TimeoutError:
            return failed_result(step, f"timed out after {self.settings.step_timeout:g}s")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return failed_result(step, f"invalid input for {step.agent}: {problems}")
        except (BudgetExceeded, PrivacyViolation) as exc:  # keep the attempts the step paid for
            result = exc.partial if isinstance(exc.partial, StepResult) else failed_result(step, str(exc))
            if isinstance(exc, BudgetExceeded):
                result.escalation_reason = "budget"
            return result
        except (OrchestratorError, KeyError) as exc:
            return failed_result(step, str(exc))
        except Exception as exc:  # a plugin's bug fails its step, never the run
            log.warning("step.crashed", agent=step.agent, error_type=type(exc).__name__)
            return failed_result(step, f"{step.agent} raised {type(exc).__name__}: {exc}")

    async def _fan_out(self, spec: RunSpec, phase: _Phase, step: Step, outputs: Mapping[str, Any]) -> StepResult:
        """The step once per item of its for_each list, concurrently, each item a durable task."""
        assert step.for_each is not None
        try:
            items = resolve(step.for_each, spec.inputs, outputs)
        except KeyError as exc:
            return failed_result(step, f"for_each {step.for_each!r}: {exc.args[0]}")
        if not isinstance(items, list):
            return failed_result(step, f"for_each {step.for_each!r} is a {type(items).__name__}, not a list")
        if len(items) > self.settings.max_items:
            return failed_result(step, f"for_each {step.for_each!r} has {len(items)} items, more than "
                                       f"executor.max_items ({self.settings.max_items}); use larger chunks or raise "
                                       "the limit")
        phase.fan_outs[step.id] = _FanOut(items, outputs)
        # Called in item order, all at once: item task ids stay stable across resumes.
        item = _run_item if self._live[spec.run_id].direct else _item_task
        calls = [item(spec.run_id, phase.index, step.id, position) for position in range(len(items))]
        return gathered(step, [as_result(data) for data in await asyncio.gather(*calls)])

    async def _dispatch(self, agent: Specialist[Any, Any] | Tool[Any, Any], step: Step, request: BaseModel,
                        sensitivity: Sensitivity, spec: RunSpec, position: int | None = None) -> StepResult:
        if isinstance(agent, Tool):
            output = await agent(request)
            return StepResult(step_id=step.id, agent=step.agent, status="completed",
                              output=output.model_dump(mode="json"), confidence=1.0)
        result = await self.router.run(agent, request, step_id=step.id, instruction=step.instruction,
                                       sensitivity=sensitivity, guard=spec.guard)
        if self.observer is not None:
            try:
                await self.observer.observe(spec.run_id, agent.name, request, result, sensitivity,
                                            guard=spec.guard, instruction=step.instruction, item=position)
            except Exception as exc:  # learning never fails a step
                log.warning("step.observer_failed", step_id=step.id, error=str(exc))
        return result

    # -- results and events -------------------------------------------------------

    async def _finish(self, spec: RunSpec, plan: Plan | None, steps: list[StepResult], status: RunStatus,
                      error: str | None, *, replanned: bool = False) -> dict[str, Any]:
        answer = None
        if plan is not None:
            outputs = {s.step_id: s.output for s in steps if s.status == "completed"}
            answer = answer_of(plan, spec.inputs, outputs)
            failed = [s for s in steps if s.status == "failed"]
            if failed and error is None:
                error = "; ".join(f"{s.step_id}: {s.error}" for s in failed[:3])
        if self.observer is not None:  # e.g. audits of the run's local answers: their cost goes on the steps
            steps = await self.observer.settle(spec.run_id, steps)
        cost = CostReport.from_steps(steps, planner_cost=spec.planner_cost(), baseline_model=spec.baseline_model,
                                     planner_usage=spec.planner_usage())
        result = RunResult(run_id=spec.run_id, status=status,
                           answer=answer, plan=plan.model_dump(mode="json") if plan else None,
                           steps=steps, cost=cost, error=error, replanned=replanned,
                           planned_by=spec.planned_by)
        # no run.finished here: the caller writes the end once the outcome is recorded (orchestrator.events)
        return result.model_dump(mode="json")

    async def _emit(self, spec: RunSpec, kind: EventType, step_id: str | None = None,
                    data: dict[str, Any] | None = None) -> None:
        if silent(spec.sink):
            return
        try:
            await spec.sink.emit(Event(type=kind, run_id=spec.run_id, step_id=step_id, data=data or {}))
        except Exception as exc:  # a broken UI must not break the run
            log.warning("event.emit_failed", event_type=kind, error=str(exc))


_EXECUTOR: ContextVar[Executor] = ContextVar("orchestrator_executor")
"""The executor of the run in this context (LangGraph runs a run's tasks in copies of it)."""


# The tasks are module-level functions, not bound methods: LangGraph builds a task's runnable
# (signature inspection and all) once for a function it can find by module and name, but anew
# on every call for anything else. Task ids derive from these names: keep them stable.

async def _make_plan(run_id: str, phase: int) -> dict[str, Any]:
    return await _EXECUTOR.get()._make_plan(run_id, phase)


async def _run_step(run_id: str, index: int, step_id: str) -> StepResult:
    return await _EXECUTOR.get()._run_step(run_id, index, step_id)


async def _run_item(run_id: str, index: int, step_id: str, position: int) -> StepResult:
    return await _EXECUTOR.get()._run_item(run_id, index, step_id, position)


async def _run_entry(run_id: str) -> dict[str, Any]:
    executor = _EXECUTOR.get()
    if executor._live[run_id].direct:
        return await executor._run(run_id, _make_plan, _run_step)
    return await executor._run(run_id, _plan_task, _step_task)


_run_entry.__name__ = "run"  # the graph's node name, in every checkpoint: keep it


_plan_task = task(_make_plan)
_step_task = task(_run_step)
_item_task = task(_run_item)


__all__ = ["Executor", "ExecutorSettings", "PlanSource", "Replanner", "RunSpec", "StepObserver"]
