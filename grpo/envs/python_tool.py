"""The `python` environment: code the policy writes mid-thought runs in the sandbox, and what it
printed comes back as the next turn (tool-integrated reasoning, as in ToRL / SimpleTIR).

Like a notebook cell (`repl`, the default), a block whose last statement is an expression also
shows that expression's value, so `<python>377 * 552</python>` answers `208104`.
A turn that ends with the closing tag (`</python>` by default; the recipe may choose others, e.g.
"```python" / "```") is a tool call: the code between the last opening tag and it runs once, as
a script, in a warm sandbox worker with per-call limits. Whatever the program does (exit, fork,
hang, write outside, print megabytes) ends as an error line in the observation; the episode
goes on. A turn without a tool call ends the episode: the policy has answered.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from grpo.envs.base import Step
from grpo.envs.registry import register_env

_POOLS: dict[tuple[int, float, int], Any] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(workers: int, seconds: float, memory_mb: int) -> Any:
    """One sandbox pool per process and limits: episodes share warm workers (starting a fork
    server costs ~0.1 s, more than a typical tool call)."""
    from sandboxes import Limits, SandboxPool

    key = (workers, seconds, memory_mb)
    with _POOLS_LOCK:
        if key not in _POOLS:
            limits = Limits(wall_seconds=seconds + 1.0, test_seconds=seconds, cpu_seconds=max(1, int(seconds) + 1),
                            memory_mb=memory_mb)
            pool = SandboxPool(workers, limits=limits)
            atexit.register(pool.close)
            _POOLS[key] = pool
        return _POOLS[key]


@register_env("python")
class PythonTool:
    """kwargs: start/end tags of a code block, the observation's wrapping, per-call limits and
    the characters of output kept (the tail is cut: the policy sees the start and a marker)."""

    def __init__(self, start: str = "<python>", end: str = "</python>", output_start: str = "<output>\n",
                 output_end: str = "\n</output>", timeout: float = 2.0, memory_mb: int = 512, max_output_chars: int = 300,
                 workers: int = 16, repl: bool = True):
        if not start or not end:
            raise ValueError("the python tool needs non-empty start and end tags")
        if timeout <= 0 or max_output_chars <= 0:
            raise ValueError("timeout and max_output_chars must be > 0")
        self.start, self.end = start, end
        self.output_start, self.output_end = output_start, output_end
        self.timeout, self.memory_mb, self.max_output_chars, self.workers = timeout, memory_mb, max_output_chars, workers
        self.repl = repl
        self.stop = (end,)

    def reset(self, row: dict[str, Any]) -> str | None:
        return None

    def step(self, turn: str) -> Step:
        code = self.code_of(turn)
        if code is None:
            return Step(None, True)
        program = notebook_cell(code) if self.repl else code
        result = shared_pool(self.workers, self.timeout, self.memory_mb).execute(program)
        text = result.stdout + result.stderr
        if result.error and not result.stderr.strip():
            text += f"error: {result.error}"
        elif result.error and "timed out" in result.error:
            text += f"\nerror: {result.error}"
        if len(text) > self.max_output_chars:
            text = text[: self.max_output_chars] + "\n[output truncated]"
        info = {"tool_calls": 1, "tool_errors": int(result.error is not None), "tool_seconds": result.seconds}
        return Step(self.output_start + text.strip("\n") + self.output_end, False, info)

    def code_of(self, turn: str) -> str | None:
        """The code block the turn ends with, or None when it has none. The closing tag is a stop
        string, so it can only be the turn's last (a token may carry a character past it)."""
        closing = turn.rfind(self.end)
        if closing < 0:
            return None
        opening = turn.rfind(self.start, 0, closing)
        if opening < 0:
            return None
        return turn[opening + len(self.start):closing].strip("\n")


# Runs inside the sandbox: the model's code is parsed there too, never in the trusted process.
_CELL = """import ast as _ast, sys as _sys
_source = {source!r}
try:
    _tree = _ast.parse(_source)
except SyntaxError as _err:
    print(f"SyntaxError: {{_err.msg}} (line {{_err.lineno}})", file=_sys.stderr)
    _sys.exit(1)
_last = _tree.body.pop() if _tree.body and isinstance(_tree.body[-1], _ast.Expr) else None
_scope = {{"__name__": "__main__"}}
exec(compile(_tree, "<cell>", "exec"), _scope)
if _last is not None:
    _value = eval(compile(_ast.Expression(_last.value), "<cell>", "eval"), _scope)
    if _value is not None:
        print(repr(_value))
"""


def notebook_cell(code: str) -> str:
    """A script running `code` that also prints its last expression's value (as Jupyter shows it)."""
    return _CELL.format(source=code)
