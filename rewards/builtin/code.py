"""Code reward: run the completion's program against the sample's unit tests in the sandbox.

Test formats, read from the dataset columns:
- HumanEval: `test` (a `def check(candidate)` body) and `entry_point`;
- MBPP: `test_list` (assert strings) and optional `test_setup_code`;
- APPS / CodeContests: `input_output`, JSON {"inputs": [...], "outputs": [...], "fn_name"?}: stdin/stdout
  cases, or function calls when fn_name is given;
- our own: `tests` = {"type": "call", "function": f, "cases": [[args, expected], ...]}
  | {"type": "stdio", "cases": [[stdin, stdout], ...]} | {"type": "assert", "code": ..., "entry_point"?}.
The program is the last fenced code block (```python ... ```), else the <answer> content, else
the whole completion.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rewards.base import Sample, VerifierResult, verifier
from rewards.extract import answer_tag
from rewards.registry import register

_FENCE = re.compile(r"```(?:python|py|python3)?[^\n]*\n(.*?)```", re.DOTALL)


def extract_program(completion: str) -> str:
    blocks = _FENCE.findall(completion)
    if blocks:
        return blocks[-1]
    tagged = answer_tag(completion)
    return tagged if tagged is not None else completion


def suite_for(sample: Sample) -> Any:
    """The sandbox test suite described by the sample's columns, or ValueError saying what is missing."""
    from sandboxes import AssertTests, CallCases, StdioCases, humaneval, mbpp

    columns = sample.columns
    if "tests" in columns:
        spec = columns["tests"]
        spec = json.loads(spec) if isinstance(spec, str) else spec
        kind = spec.get("type")
        if kind == "call":
            return CallCases(spec["function"], [(tuple(args), expected) for args, expected in spec["cases"]])
        if kind == "stdio":
            return StdioCases([(stdin, stdout) for stdin, stdout in spec["cases"]])
        if kind == "assert":
            return AssertTests(spec["code"], spec.get("entry_point"))
        raise ValueError(f"tests.type must be call, stdio or assert, got {kind!r}")
    if "test" in columns and "entry_point" in columns:
        return humaneval(columns["test"], columns["entry_point"])
    if "test_list" in columns:
        return mbpp(list(columns["test_list"]), columns.get("test_setup_code") or "")
    if "input_output" in columns:
        spec = columns["input_output"]
        spec = json.loads(spec) if isinstance(spec, str) else spec
        if spec.get("fn_name"):
            return CallCases(spec["fn_name"], [(tuple(i), o[0] if isinstance(o, list) and len(o) == 1 else o)
                                               for i, o in zip(spec["inputs"], spec["outputs"])])
        return StdioCases(list(zip(spec["inputs"], spec["outputs"])))
    raise ValueError("the code verifier needs test columns: tests, test+entry_point (HumanEval), test_list (MBPP) "
                     "or input_output (APPS)")


@register("code")
@verifier(batched=True, needs=(("tests", "test", "test_list", "input_output"),))
class CodeVerifier:
    """1.0 when every test passes (mode='all') or the share of tests passed (mode='fraction')."""

    def __init__(self, mode: str = "all", workers: int = 1, require_full_isolation: bool = False,
                 wall_seconds: float = 10.0, test_seconds: float = 2.0, memory_mb: int = 1024):
        from sandboxes import Limits, SandboxPool

        if mode not in ("all", "fraction"):
            raise ValueError(f"code mode must be 'all' or 'fraction', got {mode!r}")
        self.mode = mode
        self.pool = SandboxPool(workers=workers, require_full_isolation=require_full_isolation,
                                limits=Limits(wall_seconds=wall_seconds, test_seconds=test_seconds, memory_mb=memory_mb))

    def __call__(self, samples: list[Sample]) -> list[VerifierResult]:
        jobs = [(extract_program(s.completion), suite_for(s)) for s in samples]
        results = self.pool.map(jobs)
        out = []
        for result in results:
            value = float(result.passed) if self.mode == "all" else result.fraction
            out.append(VerifierResult(value, {"passed": sum(o.passed for o in result.outcomes),
                                              "tests": len(result.outcomes), "reason": result.reason}))
        return out
