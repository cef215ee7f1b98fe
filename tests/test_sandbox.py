"""Sandbox formats, partial credit, limits and the public API on solving and failing programs."""

import pytest

from sandboxes import AssertTests, CallCases, Limits, SandboxPool, StdioCases, humaneval, mbpp


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(workers=2, limits=Limits(wall_seconds=5, test_seconds=1)) as sandbox:
        yield sandbox


def test_call_cases_partial_credit_and_reasons(pool):
    code = "def sq(x):\n    if x == 3:\n        raise ValueError('three')\n    return x * x if x != 4 else 15"
    result = pool.run(code, CallCases("sq", [((2,), 4), ((3,), 9), ((4,), 16), ((5,), 25)]))
    assert [o.passed for o in result.outcomes] == [True, False, False, True]
    assert result.fraction == 0.5 and not result.passed
    assert "ValueError: three" in result.outcomes[1].reason and "returned 15, expected 16" in result.outcomes[2].reason


def test_timeout_in_one_case_does_not_sink_the_others(pool):
    code = "def f(x):\n    while x == 2:\n        pass\n    return x"
    result = pool.run(code, CallCases("f", [((1,), 1), ((2,), 2), ((3,), 3)]))
    assert [o.passed for o in result.outcomes] == [True, False, True]


def test_humaneval_and_mbpp_counts_each_assert(pool):
    code = "def inc(x):\n    return x + 1 if x < 10 else x"
    check = "def check(candidate):\n    assert candidate(1) == 2\n    for i in range(20):\n        assert candidate(i) == i + 1\n    assert candidate(-1) == 0\n"
    result = pool.run(code, humaneval(check, "inc"))
    assert [o.passed for o in result.outcomes] == [True, False, True]
    result = pool.run(code, mbpp(["assert inc(1) == 2", "assert inc(50) == 51", "assert math.floor(inc(0.5)) == 1"], setup="import math"))
    assert [o.passed for o in result.outcomes] == [True, False, True]


def test_expected_exceptions_are_rebuilt(pool):
    code = "def div(a, b):\n    return a // b"
    tests = AssertTests("try:\n    div(1, 0)\n    raised = False\nexcept ZeroDivisionError:\n    raised = True\nassert raised")
    assert pool.run(code, tests).passed


def test_stdio_with_float_tolerance_and_stderr(pool):
    code = "import sys\nx = float(input())\nprint(x / 3)\nprint('debug', file=sys.stderr)"
    exact = pool.run(code, StdioCases([("1", "0.333333")]))
    assert not exact.passed
    tolerant = pool.run(code, StdioCases([("1", "0.333333")], float_tolerance=1e-6))
    assert tolerant.passed and "debug" in tolerant.stderr


def test_stdio_exit_status_reported(pool):
    result = pool.run("raise RuntimeError('boom')", StdioCases([("", "x")]))
    assert not result.passed and "exit status 1" in result.outcomes[0].reason and "boom" in result.outcomes[0].reason


def test_working_directory_is_private_and_writable(pool):
    code = "import os\ndef f():\n    open('scratch.txt', 'w').write('ok')\n    return [open('scratch.txt').read(), os.environ.get('HOME') == os.getcwd()]"
    assert pool.run(code, CallCases("f", [((), ["ok", True])])).passed


def test_memory_is_reported(pool):
    result = pool.run("def f():\n    x = bytearray(50 * 2**20)\n    return len(x)", CallCases("f", [((), 50 * 2**20)]))
    assert result.passed and result.max_rss_mb > 50


def test_limits_validate():
    with pytest.raises(ValueError, match="Limits.memory_mb"):
        Limits(memory_mb=0)
