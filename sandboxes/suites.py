"""Test formats and their evaluation. Every verdict is computed here, outside the sandbox.

- `CallCases`: function-call input -> expected-output pairs; return values are compared with
  type-strict equality, and the expected values never enter the sandbox.
- `AssertTests`: HumanEval `check(candidate)` code or MBPP assert lists. The test code runs here,
  in the trusted process; the solution's functions are proxies that run inside the sandbox and
  return plain values. So the solution cannot patch the asserts, exit "successfully" early, print
  a success marker or return an object that equals everything: none of that reaches this side.
  Each assert statement is one test (a failing one does not stop the others: partial credit).
- `StdioCases`: stdin -> expected stdout programs (competitive programming), one fresh run per
  case, outputs compared token by token.
"""

from __future__ import annotations

import ast
import math
import time
from dataclasses import dataclass
from typing import Any

from sandboxes.execute import exit_reason, run_script
from sandboxes.limits import Limits
from sandboxes.session import RemoteError, SandboxCrashed, SandboxTimeout, Server, Session
from sandboxes.values import UnserializableValue, strictly_equal


@dataclass
class CallCases:
    function: str
    cases: list[tuple[Any, Any]]  # (positional arguments as a list/tuple, expected return value)
    rel_tol: float = 1e-9


@dataclass
class AssertTests:
    code: str  # test code: asserts, or a `def check(candidate)` body of asserts
    entry_point: str | None = None  # HumanEval: check(<entry_point>) is called


@dataclass
class StdioCases:
    cases: list[tuple[str, str]]  # (stdin, expected stdout)
    float_tolerance: float | None = None  # compare numeric tokens within this absolute tolerance


@dataclass
class TestOutcome:
    name: str
    passed: bool
    reason: str | None = None
    seconds: float = 0.0


@dataclass
class SandboxResult:
    """passed: every test passed; fraction: share passed; reason: why it failed, in one line."""

    passed: bool
    fraction: float
    outcomes: list[TestOutcome]
    reason: str | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    max_rss_mb: float = 0.0


def humaneval(test_code: str, entry_point: str) -> AssertTests:
    return AssertTests(test_code, entry_point)


def mbpp(test_list: list[str], setup: str = "") -> AssertTests:
    return AssertTests("\n".join([setup, *test_list]))


# --------------------------------------------------------------------------- evaluation


class _Runner:
    """Holds the current session; starts a fresh one after a crash or a timeout (partial credit)."""

    def __init__(self, server: Server, code: str | bytes, limits: Limits):
        self.server, self.code, self.limits = server, code, limits
        self.deadline = time.monotonic() + limits.wall_seconds
        self.session: Session | None = None
        self.report: dict[str, Any] = {}
        self.first_error: str | None = None

    def current(self) -> Session:
        if self.session is None:
            if time.monotonic() >= self.deadline:
                raise SandboxTimeout("the run's wall-clock limit is spent")
            self.session = Session(self.server, self.code, "functions", self.limits, self.deadline)
            if self.session.load_error:
                error = self.session.load_error
                self.retire()
                self.first_error = self.first_error or f"the solution failed to load: {error}"
                raise SandboxCrashed(self.first_error)
        return self.session

    def call(self, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        session = self.current()
        try:
            return session.call(name, args, kwargs)
        except (SandboxTimeout, SandboxCrashed) as err:
            self.retire()
            self.first_error = self.first_error or str(err)
            raise

    def names(self) -> list[str]:
        try:
            return self.current().names
        except (SandboxTimeout, SandboxCrashed):
            return []

    def retire(self) -> None:
        if self.session is not None:
            report = self.session.finish()
            self.report = {**report, "max_rss_mb": max(report.get("max_rss_mb", 0), self.report.get("max_rss_mb", 0))}
            self.session = None


def evaluate(server: Server, code: str | bytes, tests: Any, limits: Limits) -> SandboxResult:
    started = time.monotonic()
    if isinstance(tests, StdioCases):
        return _stdio(server, code, tests, limits, started)
    runner = _Runner(server, code, limits)
    try:
        if isinstance(tests, CallCases):
            outcomes = _calls(runner, tests)
        elif isinstance(tests, AssertTests):
            outcomes = _asserts(runner, tests)
        else:
            raise TypeError(f"unknown test suite {type(tests).__name__}; use CallCases, AssertTests or StdioCases")
    finally:
        runner.retire()
    return _result(outcomes, runner.first_error, runner.report, started)


def _result(outcomes: list[TestOutcome], error: str | None, report: dict[str, Any], started: float) -> SandboxResult:
    passed = sum(o.passed for o in outcomes)
    fraction = passed / len(outcomes) if outcomes else 0.0
    reason = None if outcomes and passed == len(outcomes) else (error or next((o.reason for o in outcomes if not o.passed), "no tests"))
    return SandboxResult(bool(outcomes) and passed == len(outcomes), fraction, outcomes, reason,
                         report.get("stdout", "")[:2000], report.get("stderr", ""), time.monotonic() - started,
                         report.get("max_rss_mb", 0.0))


def _calls(runner: _Runner, tests: CallCases) -> list[TestOutcome]:
    outcomes = []
    for index, (args, expected) in enumerate(tests.cases):
        t0 = time.monotonic()
        try:
            got = runner.call(tests.function, tuple(args), {})
            ok = strictly_equal(got, expected, rel_tol=tests.rel_tol)
            reason = None if ok else f"returned {_short(got)}, expected {_short(expected)}"
        except Exception as err:
            ok, reason = False, _reason(err)
        outcomes.append(TestOutcome(f"case {index}", ok, reason, time.monotonic() - t0))
    return outcomes


class _Proxy:
    """Stands for one of the solution's functions on the trusted side."""

    def __init__(self, runner: _Runner, name: str):
        self.runner, self.name = runner, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.runner.call(self.name, args, kwargs)


class _CheckRecorder:
    def __init__(self) -> None:
        self.results: dict[int, tuple[bool, str | None, float]] = {}

    def __call__(self, index: int, thunk: Any) -> None:
        t0 = time.monotonic()
        try:
            ok, reason = bool(thunk()), None
            if not ok:
                reason = "assertion failed"
        except Exception as err:  # the solution's exceptions arrive as plain exceptions here
            ok, reason = False, _reason(err)
        before = self.results.get(index, (True, None, 0.0))
        self.results[index] = (before[0] and ok, before[1] or reason, before[2] + time.monotonic() - t0)


class _AssertRewriter(ast.NodeTransformer):
    """`assert X, msg` -> `__grpo_check__(i, lambda: X)`: recorded, and never stops the test code."""

    def __init__(self) -> None:
        self.count = 0
        self.sources: list[str] = []

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        index = self.count
        self.count += 1
        self.sources.append(ast.unparse(node.test)[:120])
        call = ast.Call(ast.Name("__grpo_check__", ast.Load()),
                        [ast.Constant(index), ast.Lambda(ast.arguments([], [], None, [], [], None, []), node.test)], [])
        return ast.copy_location(ast.Expr(call), node)


def _asserts(runner: _Runner, tests: AssertTests) -> list[TestOutcome]:
    tree = ast.parse(tests.code)
    rewriter = _AssertRewriter()
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    recorder = _CheckRecorder()
    names = runner.names()
    namespace: dict[str, Any] = {"__grpo_check__": recorder, "__name__": "__tests__"}
    namespace.update({name: _Proxy(runner, name) for name in names})
    setup_error = None
    try:
        exec(compile(tree, "<tests>", "exec"), namespace)
        if tests.entry_point is not None:
            if "check" not in namespace:
                raise ValueError("HumanEval-style tests need a `def check(candidate)`")
            namespace["check"](_Proxy(runner, tests.entry_point))
    except (SandboxTimeout, SandboxCrashed, RemoteError) as err:
        setup_error = _reason(err)
    except Exception as err:
        setup_error = f"test code raised {type(err).__name__}: {err}"
    outcomes = []
    for index, source in enumerate(rewriter.sources):
        ok, reason, seconds = recorder.results.get(index, (False, setup_error or "never reached", 0.0))
        outcomes.append(TestOutcome(source, ok, reason, seconds))
    if not names and runner.first_error:
        for outcome in outcomes:
            outcome.passed, outcome.reason = False, runner.first_error
    return outcomes


def _stdio(server: Server, code: str | bytes, tests: StdioCases, limits: Limits, started: float) -> SandboxResult:
    outcomes, report, error = [], {}, None
    deadline = started + limits.wall_seconds
    for index, (stdin, expected) in enumerate(tests.cases):
        t0 = time.monotonic()
        if t0 >= deadline:
            outcomes.append(TestOutcome(f"case {index}", False, "the run's wall-clock limit is spent"))
            continue
        report, timeout = run_script(server, code, limits, deadline, stdin)
        error = error or timeout
        if timeout:
            outcomes.append(TestOutcome(f"case {index}", False, f"timed out after {limits.test_seconds:g} s", time.monotonic() - t0))
            continue
        ok = _same_output(report["stdout"], expected, tests.float_tolerance)
        reason = None
        if not ok:
            reason = exit_reason(report) or f"printed {_short(report['stdout'])}, expected {_short(expected)}"
        outcomes.append(TestOutcome(f"case {index}", ok, reason, time.monotonic() - t0))
    return _result(outcomes, error, report, started)


def _same_output(got: str, expected: str, tolerance: float | None) -> bool:
    got_tokens, want_tokens = got.split(), expected.split()
    if len(got_tokens) != len(want_tokens):
        return False
    for a, b in zip(got_tokens, want_tokens):
        if a == b:
            continue
        if tolerance is None:
            return False
        try:
            if not math.isclose(float(a), float(b), abs_tol=tolerance, rel_tol=0):
                return False
        except ValueError:
            return False
    return True


def _reason(err: Exception) -> str:
    if isinstance(err, (SandboxTimeout, SandboxCrashed)):
        return str(err)
    if isinstance(err, UnserializableValue):
        return f"a value cannot cross the sandbox boundary: {err}"
    return f"{type(err).__name__}: {err}"[:300]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
