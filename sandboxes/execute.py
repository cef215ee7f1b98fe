"""Run a program once and hand back what it printed: the sandbox as a tool the policy calls.

Test suites (suites.py) judge a program; a tool call only reports on it. The same isolation and
limits apply: the program runs as its own user in a fresh process tree, its stdout/stderr go to
capped files, and whatever it does (exit, fork, hang, print gigabytes) ends as a field of the
result, never as an exception here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sandboxes.limits import Limits
from sandboxes.session import SandboxTimeout, Server, Session


@dataclass
class Execution:
    """stdout/stderr are cut to `Limits.output_excerpt` characters; `error` says why the program
    did not end normally (timeout, signal, non-zero exit), or is None."""

    stdout: str
    stderr: str
    error: str | None
    seconds: float
    max_rss_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def run_script(server: Server, code: str | bytes, limits: Limits, deadline: float, stdin: str = "",
               stdout_cap: int = 1 << 20) -> tuple[dict, str | None]:
    """Run `code` once as a script until it exits or its time is up: (the server's report, the
    timeout's message or None). The python tool (execute) and stdin/stdout test cases (suites)
    both run programs this way."""
    session = Session(server, code, "script", limits, deadline, stdin=stdin, stdout_cap=stdout_cap)
    timeout = None
    try:
        session.wait_exit()
    except SandboxTimeout as err:
        timeout = str(err)
    return session.finish(), timeout


def execute(server: Server, code: str | bytes, limits: Limits, stdin: str = "") -> Execution:
    started = time.monotonic()
    report, timeout = run_script(server, code, limits, started + limits.wall_seconds, stdin,
                                 stdout_cap=limits.output_excerpt * 4)
    error = f"timed out after {min(limits.test_seconds, limits.wall_seconds):g} s" if timeout else exit_reason(report)
    cut = limits.output_excerpt
    return Execution(str(report.get("stdout", ""))[:cut], str(report.get("stderr", ""))[:cut], error,
                     time.monotonic() - started, float(report.get("max_rss_mb", 0.0)))


def exit_reason(report: dict) -> str | None:
    """One line for a program that was killed or exited non-zero; None for a clean exit."""
    if report.get("signal"):
        import signal as signals

        try:
            name = signals.Signals(report["signal"]).name
        except ValueError:
            name = f"signal {report['signal']}"
        return f"killed by {name}"
    if report.get("status"):
        tail = str(report.get("stderr", "")).strip().splitlines()
        return f"exit status {report['status']}" + (f": {tail[-1][:200]}" if tail else "")
    return None
