"""sandboxes.execute: one program run as a tool call; whatever it does comes back as fields."""

from __future__ import annotations

import pytest

from sandboxes import Limits, SandboxPool


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(2, limits=Limits(wall_seconds=3.0, test_seconds=2.0, output_excerpt=100)) as pool:
        yield pool


def test_stdout_and_stderr_come_back(pool):
    result = pool.execute("import sys\nprint(6 * 7)\nprint('careful', file=sys.stderr)")
    assert result.stdout == "42\n" and result.stderr == "careful\n"
    assert result.ok and result.error is None


def test_stdin_is_fed(pool):
    assert pool.execute("print(int(input()) + 1)", stdin="41\n").stdout == "42\n"


def test_nonzero_exit_and_exceptions_are_errors(pool):
    result = pool.execute("raise ValueError('bad value')")
    assert result.error.startswith("exit status 1: ValueError: bad value")
    assert result.stderr == "ValueError: bad value\n"  # the exception line, no traceback of the harness
    assert pool.execute("import sys\nsys.exit(3)").error == "exit status 3"


def test_a_hang_times_out(pool):
    result = pool.execute("while True:\n    pass")
    assert result.error == "timed out after 2 s"
    assert result.seconds < 3.5


def test_output_is_cut_to_the_excerpt(pool):
    result = pool.execute("print('x' * 10_000_000)")
    assert result.stdout == "x" * 100


def test_the_servers_serve_again_after_hangs_and_memory_bombs(pool):
    assert pool.execute("import time\ntime.sleep(60)").error.startswith("timed out")
    assert pool.execute("x = bytearray(1 << 40)").error.startswith("exit status 1: MemoryError")
    assert pool.execute("print('alive')").stdout == "alive\n"
