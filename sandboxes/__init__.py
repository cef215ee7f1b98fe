"""Running untrusted code: isolation, limits, a forgery-proof test harness, a pool of warm workers.

    from sandboxes import SandboxPool, CallCases, AssertTests, StdioCases, Limits

    with SandboxPool(workers=2) as pool:
        result = pool.run("def add(a, b):\\n    return a + b", CallCases("add", [((1, 2), 3)]))
        result.passed, result.fraction, result.outcomes, result.reason

See README.md, "Sandbox", for the guarantees and the measured throughput.
"""

from sandboxes.isolation import IsolationError, report as isolation_report
from sandboxes.execute import Execution
from sandboxes.limits import Limits
from sandboxes.pool import SandboxPool
from sandboxes.suites import AssertTests, CallCases, SandboxResult, StdioCases, TestOutcome, humaneval, mbpp

__all__ = ["AssertTests", "CallCases", "Execution", "IsolationError", "Limits", "SandboxPool", "SandboxResult", "StdioCases",
           "TestOutcome", "humaneval", "isolation_report", "mbpp"]
