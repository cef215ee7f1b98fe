"""Run verifiers in a child process so that a hung or crashing verifier costs one fallback reward,
never the run.

A thread cannot be stopped, so a verifier that sleeps forever in a thread stalls the step; a
process can be killed. The child is started once (a fresh interpreter, safe to start from a Ray
actor's threads) and reused; it is killed and restarted only after a timeout or a crash.
The child runs verifiers in its main thread, where math-verify's own signal-based timeouts work.

Per-sample verifiers are sent one sample at a time, so the timeout and the fallback apply to
that sample alone; batched and TRL-style verifiers get one timeout for the whole call.
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from rewards.base import Sample, VerifierError, VerifierResult, shape_of
from rewards.registry import resolve


@dataclass
class Outcome:
    """One verifier over a batch: its results, how many samples failed, and the first error."""

    results: list[VerifierResult]
    failures: int
    first_error: str | None


class VerifierRunner:
    """Scores samples with the verifiers of `specs` in a killable child process."""

    def __init__(self, specs: list[dict[str, Any]], start_timeout: float = 120.0):
        self.specs = specs
        self.start_timeout = start_timeout
        self.per_sample = [shape_of(resolve(spec["name"])) == "sample" for spec in specs]
        self._process: Any = None
        self._connection: Any = None
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        # A plain interpreter started with `-m`, not multiprocessing: spawn would re-import the
        # user's __main__ (fatal for scripts without a main guard, and for stdin).
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "rewards._child", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, start_new_session=True,
        )
        theirs.close()
        self._connection = Connection(ours.detach())
        self._connection.send(self.specs)
        if not self._connection.poll(self.start_timeout):
            self._kill()
            raise RuntimeError(f"the verifier process did not start within {self.start_timeout:.0f} s")
        status, message = self._connection.recv()
        if status != "ready":
            self._kill()
            raise VerifierError(f"building the verifiers failed: {message}")

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _restart(self) -> None:
        self._kill()
        self.restarts += 1
        self._start()

    def _call(self, index: int, samples: list[Sample], timeout: float) -> tuple[str, Any]:
        """('ok', results) | ('raised', message) | ('timeout', message) | ('crashed', message)."""
        try:
            self._connection.send(("score", index, samples))
        except (BrokenPipeError, OSError):
            self._restart()
            self._connection.send(("score", index, samples))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._restart()
                return "timeout", f"timed out after {timeout:g} s"
            try:
                if self._connection.poll(min(remaining, 0.5)):
                    return self._connection.recv()
            except (EOFError, OSError):
                pass
            if self._process.poll() is not None:
                code = self._process.returncode
                self._restart()
                return "crashed", f"the verifier process died (exit code {code})"

    def score(self, index: int, samples: list[Sample]) -> Outcome:
        """Run verifier `index` over `samples`; failed samples get the spec's fallback reward."""
        spec = self.specs[index]
        timeout = float(spec.get("timeout", 10.0))
        fallback = float(spec.get("fallback", 0.0))
        groups = [[sample] for sample in samples] if self.per_sample[index] else [samples]
        results: list[VerifierResult] = []
        failures, first_error = 0, None
        for group in groups:
            status, payload = self._call(index, group, timeout)
            if status == "ok":
                for result in payload:
                    if result.value is not None and not math.isfinite(result.value):
                        # a NaN or an infinity is the verifier's failure on this sample, never a reward
                        failures += 1
                        first_error = first_error or f"returned a non-finite score ({result.value})"
                        result = VerifierResult(fallback, {**result.details, "error": f"non-finite score {result.value}"})
                    results.append(result)
                continue
            failures += len(group)
            first_error = first_error or payload
            results.extend(VerifierResult(fallback, {"error": payload}) for _ in group)
        return Outcome(results, failures, first_error)

    def close(self) -> None:
        self._kill()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
