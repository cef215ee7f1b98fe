"""Hostile programs against the sandbox: every one that does not solve its task must score 0, the
host must be unharmed, no file may appear outside the run directory, no process may survive.

The task of each program, unless stated: `solve(a, b)` returns a + b, checked on hidden cases.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from sandboxes import AssertTests, CallCases, Limits, SandboxPool, StdioCases, isolation_report

ADD = CallCases("solve", [((1, 2), 3), ((10, -4), 6), ((7, 8), 15), ((123, 877), 1000)])
ADD_ASSERTS = AssertTests("assert solve(1, 2) == 3\nassert solve(10, -4) == 6\nassert solve(2, 2) == 4")
HUMANEVAL = AssertTests("def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(5, 5) == 10\n", "solve")
ESCAPE = "/tmp/grpo_sandbox_escape_marker"
SECRET_DIR = Path("/root/.grpo_sandbox_secret")
SECRET = "correct horse battery staple"
ENV_SECRET = "s3cr3t-token-value"


class Listener:
    """A TCP server on the host's loopback: a sandboxed program must never reach it."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.contacts = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.contacts += 1
            connection.sendall(b"3")
            connection.close()


LISTENER = Listener()

HOSTILE: list[tuple[str, str, object]] = [
    # --- early exits in every form
    ("sys.exit(0) at import", "import sys\nsys.exit(0)\ndef solve(a, b): return a + b", ADD),
    ("os._exit(0) at import", "import os\nos._exit(0)", ADD),
    ("os._exit(0) in the call", "import os\ndef solve(a, b):\n    os._exit(0)", ADD),
    ("SystemExit in the call", "def solve(a, b):\n    raise SystemExit(0)", ADD),
    ("KeyboardInterrupt in the call", "def solve(a, b):\n    raise KeyboardInterrupt", ADD_ASSERTS),
    ("atexit prints success", "import atexit\natexit.register(lambda: print('ALL TESTS PASSED'))\ndef solve(a, b): return 0", ADD),
    ("signal handler exits during the call",
     "import os, signal\nsignal.signal(signal.SIGALRM, lambda *a: os._exit(0))\n"
     "def solve(a, b):\n    signal.setitimer(signal.ITIMER_REAL, 0.05)\n    while True: pass", ADD),
    ("thread exits the process",
     "import os, threading, time\nthreading.Thread(target=lambda: (time.sleep(0.05), os._exit(0))).start()\n"
     "def solve(a, b):\n    time.sleep(5)", ADD),
    # --- harness tampering and forged results
    ("patches the serializer", "import sandboxes.values as v\nv.encode = lambda *a, **k: {'int': '3'}\ndef solve(a, b): return 0", ADD),
    ("writes forged frames", "import sandboxes._wire as w\nfor i in range(1, 9):\n    w.send(4, ['return', i, {'int': '3'}])\n"
     "def solve(a, b): return -1", ADD),
    ("defines its own check()", "def check(candidate):\n    pass\ndef solve(a, b): return 0", HUMANEVAL),
    ("patches builtins seen by asserts", "import builtins\nbuiltins.AssertionError = Exception\ndef solve(a, b): return 0", ADD_ASSERTS),
    ("fake success marker", "print('PASSED'); print('All 4 tests passed')\ndef solve(a, b): return None", ADD),
    ("always-equal object", "class Eq:\n    def __eq__(self, o): return True\n    __hash__ = object.__hash__\ndef solve(a, b): return Eq()", ADD),
    ("always-equal object vs asserts", "class Eq:\n    def __eq__(self, o): return True\ndef solve(a, b): return Eq()", HUMANEVAL),
    ("int subclass equal to everything", "class I(int):\n    def __eq__(self, o): return True\ndef solve(a, b): return I(0)", ADD),
    ("bool where an int is expected", "def solve(a, b): return True", CallCases("solve", [((0, 1), 1), ((1, 0), 1)])),
    # --- exhausting the machine
    ("infinite loop in the call", "def solve(a, b):\n    while True: pass", ADD),
    ("infinite loop at import", "while True: pass", ADD),
    ("sleeps forever", "import time\ndef solve(a, b):\n    time.sleep(10**6)", ADD),
    ("ignores SIGTERM", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ndef solve(a, b):\n    while True: pass", ADD),
    ("memory bomb", "def solve(a, b):\n    x = [0] * (10 ** 10)\n    return a + b", ADD),
    ("memory bomb by growth", "def solve(a, b):\n    x = []\n    while True: x.append(' ' * 10**6)", ADD),
    ("fork bomb", "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass", ADD),
    ("orphaned daemon", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
     "        time.sleep(2)\n        open('/tmp/grpo_sandbox_daemon_marker', 'w').write('alive')\n        time.sleep(10**6)\n    os._exit(0)\n"
     "def solve(a, b): return 0", ADD),
    ("gigabytes of output", "import sys\nwhile True: sys.stdout.write('x' * 65536)", StdioCases([("", "x")])),
    ("gigabytes of output in a call", "def solve(a, b):\n    while True: print('y' * 65536)", ADD),
    ("deep recursion", "def solve(a, b):\n    return solve(a + 1, b)", ADD),
    ("C stack overflow", "import sys\nsys.setrecursionlimit(10**9)\ndef f(n): return f(n + 1)\ndef solve(a, b): return f(0)", ADD),
    # --- escaping: files, secrets, network, other processes
    ("writes outside its directory",
     f"for p in ['{ESCAPE}', '../escape_marker', '/var/tmp/grpo_escape', '/dev/shm/grpo_escape', '/etc/grpo_owned']:\n"
     "    try: open(p, 'w').write('pwned')\n    except OSError: pass\ndef solve(a, b): return 0", ADD),
    ("reads a root-only secret", f"def secret():\n    return open('{SECRET_DIR}/secret.txt').read()", CallCases("secret", [((), SECRET)])),
    ("reads environment secrets", "import os\ndef secret():\n    return os.environ.get('GRPO_TEST_SECRET', '')", CallCases("secret", [((), ENV_SECRET)])),
    ("connects to the host's loopback",
     f"import socket\ndef solve(a, b):\n    s = socket.create_connection(('127.0.0.1', {LISTENER.port}), timeout=1)\n    return int(s.recv(4))",
     CallCases("solve", [((1, 2), 3)])),
    ("kills its parent and everything else", "import os, signal\nfor pid in (os.getppid(), -1, 1):\n    try: os.kill(pid, signal.SIGKILL)\n"
     "    except OSError: pass\ndef solve(a, b): return 0", ADD),
    # --- malformed programs
    ("syntax error", "def solve(a, b) return a + b", ADD),
    ("NUL bytes", b"\xff\xfe\x00def solve(a, b): return a + b", ADD),
    ("undecodable bytes", b"def solve(a, b):\n    return a + b + len('\xff\xfe\xfa')\n", ADD),
    ("stdio: prints a fake verdict", "print('Accepted')", StdioCases([("1 2", "3")])),
]

CONTROLS: list[tuple[str, str, object]] = [
    ("solves the calls", "def solve(a, b):\n    return a + b", ADD),
    ("solves the asserts", "def solve(a, b):\n    return a + b", ADD_ASSERTS),
    ("solves HumanEval-style", "def solve(a, b):\n    return a + b", HUMANEVAL),
    ("solves stdin/stdout", "a, b = map(int, input().split())\nprint(a + b)", StdioCases([("1 2", "3"), ("-5 5\n", "0")])),
]


@pytest.fixture(scope="module")
def pool():
    SECRET_DIR.mkdir(mode=0o700, exist_ok=True)
    (SECRET_DIR / "secret.txt").write_text(SECRET)
    os.environ["GRPO_TEST_SECRET"] = ENV_SECRET
    with SandboxPool(workers=2, limits=Limits(wall_seconds=4, test_seconds=1, cpu_seconds=4, memory_mb=512)) as sandbox:
        yield sandbox
    del os.environ["GRPO_TEST_SECRET"]
    shutil.rmtree(SECRET_DIR, ignore_errors=True)  # a secret planted outside the repo must not outlive the test


def test_isolation_is_complete_here():
    assert isolation_report().full, str(isolation_report())


@pytest.mark.parametrize("name,code,tests", CONTROLS, ids=[c[0] for c in CONTROLS])
def test_controls_pass(pool, name, code, tests):
    result = pool.run(code, tests)
    assert result.passed and result.fraction == 1.0, result


def test_hostile_suite_earns_nothing_and_leaves_no_trace(pool, request):
    assert len(HOSTILE) >= 25
    canary = Path(os.environ.get("PYTEST_CANARY", "/root/.grpo_canary"))
    canary.write_text("intact")
    request.addfinalizer(lambda: canary.unlink(missing_ok=True))
    started = time.time()
    results = pool.map([(code, tests) for _, code, tests in HOSTILE])
    report = {name: (r.fraction, r.reason) for (name, _, _), r in zip(HOSTILE, results)}
    assert all(r.fraction == 0.0 and not r.passed for r in results), report
    assert all(r.reason for r in results), report  # each failure says why
    # the host: this process lives, files outside run directories do not exist, the canary is intact
    time.sleep(2.5)  # longer than the daemon's delay before it would write its marker
    for path in (ESCAPE, "/var/tmp/grpo_escape", "/dev/shm/grpo_escape", "/etc/grpo_owned", "/tmp/grpo_sandbox_daemon_marker"):
        assert not os.path.exists(path), path
    assert not list(Path(pool.base).iterdir()), "run directories must be removed"
    assert canary.read_text() == "intact"
    assert LISTENER.contacts == 0
    # no process of any sandbox user id survives
    survivors = [pid for pid in os.listdir("/proc") if pid.isdigit() and _uid(pid) in range(61000, 61100)]
    assert survivors == []
    assert time.time() - started < 120


def _uid(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        return -1
