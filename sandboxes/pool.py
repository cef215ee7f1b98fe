"""A pool of warm fork servers: what a reward worker holds.

`pool.run(code, tests)` scores one program, `pool.map` scores many in parallel, one per server;
`pool.execute(code)` runs one program and returns its output (the policy's python tool).
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sandboxes import isolation
from sandboxes.execute import Execution, execute
from sandboxes.limits import Limits
from sandboxes.session import Server, base_parent
from sandboxes.suites import evaluate


class SandboxPool:
    """`workers` warm fork servers; thread-safe. Use as a context manager or call close()."""

    def __init__(self, workers: int | None = None, *, require_full_isolation: bool = False, limits: Limits | None = None):
        self.report = isolation.check(require_full_isolation)
        self.limits = limits or Limits()
        self.base = tempfile.mkdtemp(prefix="grpo-sandbox-", dir=base_parent(self.report.layers))
        os.chmod(self.base, 0o711)
        count = workers or os.cpu_count() or 1
        self.servers = [Server(index, self.base, self.report.layers) for index in range(count)]
        self.free: queue.Queue[Server] = queue.Queue()
        for server in self.servers:
            self.free.put(server)
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self) -> Server:
        return self.free.get()

    def release(self, server: Server) -> None:
        self.free.put(server)

    def run(self, code: str | bytes, tests: Any, limits: Limits | None = None) -> Any:
        """Run `code` against `tests` (a sandboxes.suites suite); returns a SandboxResult."""
        return self._with_server(lambda server: evaluate(server, code, tests, limits or self.limits))

    def _with_server(self, work: Any) -> Any:
        server = self.acquire()
        healthy = True
        try:
            return work(server)
        except (EOFError, OSError):
            healthy = False  # the server itself broke (not the program): start a fresh one
            raise
        finally:
            if healthy:
                self.release(server)
            else:
                self._replace(server)

    def execute(self, code: str | bytes, *, stdin: str = "", limits: Limits | None = None) -> Execution:
        """Run `code` once as a script; returns what it printed and why it stopped (a tool call)."""
        return self._with_server(lambda server: execute(server, code, limits or self.limits, stdin))

    def map(self, jobs: list[tuple[str | bytes, Any]], limits: Limits | None = None) -> list[Any]:
        with ThreadPoolExecutor(max_workers=len(self.servers)) as executor:
            return list(executor.map(lambda job: self.run(job[0], job[1], limits), jobs))

    def _replace(self, server: Server) -> None:
        with self._lock:
            index = self.servers.index(server)
            server.close()
            self.servers[index] = Server(server.uid - isolation.FIRST_UID, self.base, self.report.layers)
            self.free.put(self.servers[index])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for server in self.servers:
            try:
                server.close()
            except Exception:
                pass
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
