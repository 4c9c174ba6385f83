"""Plays an agent's steps for a whole chunk of executions at once, one step at a time.

Each step runs as array operations over the executions that reach it, so the Python loop is
over steps, repeats and retries (tens), never over rows. A failure that exhausts its retries
ends the execution: later steps skip it, and the execution takes the failing action's error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from meta_agent.simulate.faults import FaultExposure
from meta_agent.simulate.frames import Vocabulary
from meta_agent.simulate.profiles import MODEL_PRICES, AgentProfile, Failure, LogNormal, Step

STATUSES = ("success", "failure", "timeout")
_STATUS_CODE = {"success": 0, "failure": 1, "timeout": 2}
_GAP_MS = LogNormal(3.0, 0.6)  # the agent's own work between two actions
_RETRY_BACKOFF_MS = 400.0

IntArray = npt.NDArray[np.int64]


def _with_attempt(attributes: str, attempt: int) -> str:
    """A retry is logged as its own action, marked with its attempt number."""
    if not attempt:
        return attributes
    return json.dumps({**json.loads(attributes), "attempt": attempt + 1}, separators=(",", ":"))


def _lognormal(rng: np.random.Generator, shape: LogNormal, size: int) -> npt.NDArray[np.float64]:
    return rng.lognormal(np.log(shape.median), shape.sigma, size=size)


@dataclass(frozen=True)
class _Outcome:
    """How each call of one attempt ended."""

    failed: npt.NDArray[np.bool_]
    retryable: npt.NDArray[np.bool_]
    status: npt.NDArray[np.int8]
    error_type: npt.NDArray[np.int32]
    error_message: npt.NDArray[np.int32]


class ExecutionRun:
    """The executions of one chunk and the action rows their steps leave behind."""

    def __init__(
        self,
        profile: AgentProfile,
        started_us: IntArray,
        exposure: FaultExposure,
        rng: np.random.Generator,
    ) -> None:
        n = started_us.shape[0]
        self.profile, self.exposure, self.rng = profile, exposure, rng
        self.vocab = Vocabulary()
        self.cursor = started_us.copy()
        self.alive = np.ones(n, dtype=bool)
        self.status = np.zeros(n, dtype=np.int8)
        self.error_type = np.full(n, -1, dtype=np.int32)
        self.error_message = np.full(n, -1, dtype=np.int32)
        self.first_input_tokens = np.zeros(n, dtype=np.int64)
        self._seq = np.zeros(n, dtype=np.int32)
        self._parent_row = np.full(n, -1, dtype=np.int64)
        self._blocks: list[dict[str, np.ndarray]] = []
        self._rows = 0

    def run(self) -> None:
        self._run_steps(self.profile.steps, np.arange(self.cursor.shape[0]))
        failed = np.flatnonzero(~self.alive)
        # the SDK logs an `error` event when an execution dies; analysts look for it
        start = self.cursor[failed]
        self._log(
            failed,
            self._reserve(failed.size),
            start,
            start,
            "error",
            None,
            None,
            status=self.status[failed],
            name_codes=self.error_type[failed],
            error_type=self.error_type[failed],
            error_message=self.error_message[failed],
        )
        self.cursor += self._gap(self.cursor.shape[0])

    def action_arrays(self) -> dict[str, np.ndarray]:
        """Every action column as an array, in the order rows were reserved (parents first)."""
        if not self._blocks:
            return {}
        merged = {key: np.concatenate([b[key] for b in self._blocks]) for key in self._blocks[0]}
        order = np.argsort(merged["row"], kind="stable")
        return {key: values[order] for key, values in merged.items()}

    def _gap(self, size: int) -> IntArray:
        return (_lognormal(self.rng, _GAP_MS, size) * 1000).astype(np.int64)

    def _reserve(self, size: int) -> IntArray:
        rows = np.arange(self._rows, self._rows + size, dtype=np.int64)
        self._rows += size
        return rows

    def _run_steps(self, steps: tuple[Step, ...], candidates: IntArray) -> None:
        for step in steps:
            reached = candidates[self.alive[candidates]]
            if step.presence < 1.0:
                reached = reached[self.rng.random(reached.size) < step.presence]
            low, high = step.repeats
            counts = self.rng.integers(low, high + 1, size=reached.size)
            loop_extra = self.exposure.loop_extra
            if step.name == self.exposure.loop_step and loop_extra is not None:
                counts = counts + loop_extra[reached]
            for repeat in range(int(counts.max(initial=0))):
                selected = reached[(counts > repeat) & self.alive[reached]]
                if selected.size:
                    self._attempt(step, selected)

    def _attempt(self, step: Step, idx: IntArray) -> None:
        pending = idx
        for attempt in range(step.retries + 1):
            if attempt:
                backoff = _RETRY_BACKOFF_MS * 2**attempt * self.rng.uniform(0.5, 1.5, pending.size)
                self.cursor[pending] += (backoff * 1000).astype(np.int64)
            outcome = self._call(step, pending, attempt)
            final = outcome.failed & (~outcome.retryable | (attempt == step.retries))
            ended = pending[final]
            self.alive[ended] = False
            self.status[ended] = outcome.status[final]
            self.error_type[ended] = outcome.error_type[final]
            self.error_message[ended] = outcome.error_message[final]
            pending = pending[outcome.failed & ~final]
            if not pending.size:
                return

    def _call(self, step: Step, idx: IntArray, attempt: int) -> _Outcome:
        start = self.cursor[idx] + self._gap(idx.size)
        rows = self._reserve(idx.size)
        if step.children:
            return self._wrap(step, idx, rows, start)
        m = idx.size
        duration_ms = _lognormal(self.rng, step.latency_ms, m)
        tokens_in = np.zeros(m, dtype=np.int64)
        tokens_out = np.zeros(m, dtype=np.int64)
        failures: list[Failure] = list(step.failures)
        chosen = self._draw_failures(failures, m)
        if step.model is not None and step.input_tokens and step.output_tokens:
            price = MODEL_PRICES[step.model]
            tokens_in = np.maximum(_lognormal(self.rng, step.input_tokens, m), 1).astype(np.int64)
            tokens_out = np.maximum(_lognormal(self.rng, step.output_tokens, m), 1).astype(np.int64)
            duration_ms += tokens_out * price.ms_per_output_token
            if step.name == self.exposure.context_step:
                self._overflow_context(
                    idx, tokens_in, failures, chosen, price.context_window, step.model
                )
            first = self.first_input_tokens[idx] == 0
            self.first_input_tokens[idx[first]] = tokens_in[first]
        self._fault_failures(step, idx, failures, chosen)
        status = np.zeros(m, dtype=np.int8)
        error_type = np.full(m, -1, dtype=np.int32)
        error_message = np.full(m, -1, dtype=np.int32)
        billed = np.ones(m, dtype=bool)
        retryable = np.ones(m, dtype=bool)
        for j, failure in enumerate(failures):
            hit = chosen == j
            k = int(hit.sum())
            if not k:
                continue
            status[hit] = _STATUS_CODE[failure.status]
            error_type[hit] = self.vocab.code(failure.error_type)
            messages = np.array(
                [self.vocab.code(text) for text in failure.messages], dtype=np.int32
            )
            error_message[hit] = messages[self.rng.integers(0, messages.size, size=k)]
            if failure.duration_ms is not None:
                duration_ms[hit] = failure.duration_ms * self.rng.lognormal(0.0, 0.03, size=k)
            billed[hit] = failure.billed
            retryable[hit] = failure.retryable
        tokens_out[~billed] = 0
        cost = np.zeros(m, dtype=np.int64)
        if step.model is not None:
            price = MODEL_PRICES[step.model]
            # whole units of 1e-8 USD, the scale of cost_usd numeric(14, 8): sums stay exact
            raw = tokens_in * price.usd_per_mtok_input + tokens_out * price.usd_per_mtok_output
            cost = np.where(billed, np.rint(raw * 100.0), 0).astype(np.int64)
        end = start + (duration_ms * 1000).astype(np.int64)
        self.cursor[idx] = end
        self._log(
            idx,
            rows,
            start,
            end,
            step.action_type,
            step.name,
            step.model,
            status=status,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
            error_type=error_type,
            error_message=error_message,
            attributes=_with_attempt(step.attributes, attempt),
        )
        return _Outcome(chosen >= 0, retryable, status, error_type, error_message)

    def _wrap(self, step: Step, idx: IntArray, rows: IntArray, start: IntArray) -> _Outcome:
        """A step whose children run inside its window: it fails exactly when a child does."""
        own_half = (_lognormal(self.rng, step.latency_ms, idx.size) * 500).astype(np.int64)
        parent_before = self._parent_row[idx]
        seq = self._take_seq(idx)
        self.cursor[idx] = start + own_half
        self._parent_row[idx] = rows
        self._run_steps(step.children, idx)
        self._parent_row[idx] = parent_before
        end = self.cursor[idx] + own_half
        self.cursor[idx] = end
        failed = ~self.alive[idx]
        status = np.where(failed, self.status[idx], 0).astype(np.int8)
        error_type = np.where(failed, self.error_type[idx], -1)
        error_message = np.where(failed, self.error_message[idx], -1)
        self._log(
            idx,
            rows,
            start,
            end,
            step.action_type,
            step.name,
            None,
            status=status,
            error_type=error_type,
            error_message=error_message,
            attributes=step.attributes,
            seq=seq,
            parent=parent_before,
        )
        # the children have retried already; what reaches the wrapper is final
        return _Outcome(failed, np.zeros_like(failed), status, error_type, error_message)

    def _draw_failures(self, failures: list[Failure], size: int) -> npt.NDArray[np.int64]:
        """Index into `failures` of the failure each call suffers, -1 when it succeeds."""
        if not failures:
            return np.full(size, -1, dtype=np.int64)
        bounds = np.cumsum([failure.rate for failure in failures])
        chosen = np.searchsorted(bounds, self.rng.random(size), side="right").astype(np.int64)
        chosen[chosen == len(failures)] = -1
        return chosen

    def _overflow_context(
        self,
        idx: IntArray,
        tokens_in: IntArray,
        failures: list[Failure],
        chosen: npt.NDArray[np.int64],
        window: int,
        model: str,
    ) -> None:
        long = self.exposure.long_context[idx]
        # pasted documents: some squeeze in just under the limit, most do not fit
        tokens_in[long] = (window * self.rng.uniform(0.9, 1.3, int(long.sum()))).astype(np.int64)
        failures.append(
            Failure(
                1.0,
                "ContextWindowExceeded",
                (f"prompt is too long: input exceeds the {window}-token context of {model}",),
                duration_ms=150.0,
                retryable=False,
            )
        )
        chosen[long & (tokens_in > window)] = len(failures) - 1

    def _fault_failures(
        self, step: Step, idx: IntArray, failures: list[Failure], chosen: npt.NDArray[np.int64]
    ) -> None:
        exposure = self.exposure
        if step.name == exposure.regression_step and exposure.regression is not None:
            failures.append(exposure.regression)
            hit = exposure.regressed[idx] & (chosen < 0)
            hit &= self.rng.random(idx.size) < exposure.regression.rate
            chosen[hit] = len(failures) - 1
        tool_fault = exposure.tool_faults.get(step.name)
        if tool_fault is not None:
            inside = tool_fault.in_window[idx]
            exposure.label[idx[inside]] = tool_fault.code
            failures.append(tool_fault.failure)
            chosen[inside & (self.rng.random(idx.size) < tool_fault.failure.rate)] = (
                len(failures) - 1
            )

    def _take_seq(self, idx: IntArray) -> npt.NDArray[np.int32]:
        seq = self._seq[idx]
        self._seq[idx] += 1
        return seq

    def _log(
        self,
        idx: IntArray,
        rows: IntArray,
        start: IntArray,
        end: IntArray,
        action_type: str,
        name: str | None,
        model: str | None,
        *,
        status: np.ndarray,
        error_type: np.ndarray,
        error_message: np.ndarray,
        tokens_in: IntArray | None = None,
        tokens_out: IntArray | None = None,
        cost: IntArray | None = None,
        attributes: str = "{}",
        name_codes: np.ndarray | None = None,
        seq: np.ndarray | None = None,
        parent: IntArray | None = None,
    ) -> None:
        m = idx.size
        zeros = np.zeros(m, dtype=np.int64)
        self._blocks.append(
            {
                "row": rows,
                "execution": idx,
                "seq": self._take_seq(idx) if seq is None else seq,
                "parent": self._parent_row[idx] if parent is None else parent,
                "start": start,
                "end": end,
                "action_type": np.full(m, self.vocab.code(action_type), dtype=np.int32),
                "name": np.full(m, self.vocab.code(name), dtype=np.int32)
                if name_codes is None
                else name_codes,
                "model": np.full(m, self.vocab.code(model), dtype=np.int32),
                "status": status,
                "input_tokens": zeros if tokens_in is None else tokens_in,
                "output_tokens": zeros if tokens_out is None else tokens_out,
                "cost": zeros if cost is None else cost,
                "error_type": error_type,
                "error_message": error_message,
                "attributes": np.full(m, self.vocab.code(attributes), dtype=np.int32),
            }
        )
