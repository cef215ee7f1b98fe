"""One sandboxed program as seen from outside: the fork server that hosts it and the `Session`
that calls its functions. Both the pool (which owns servers) and the test suites (which drive
sessions) build on this module; it imports neither of them.
"""

from __future__ import annotations

import builtins
import os
import select
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle
from typing import Any

from sandboxes import _wire, isolation
from sandboxes.limits import Limits
from sandboxes.values import decode, encode


class SandboxCrashed(RuntimeError):
    """The sandboxed program died, closed its channel or broke the protocol."""


class SandboxTimeout(RuntimeError):
    """A call or the whole run exceeded its time limit."""


class Server:
    """One fork server process (its own user id), used by one run at a time."""

    def __init__(self, index: int, base: str, layers: dict[str, bool]):
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandboxes._server", str(theirs.fileno())], pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL, start_new_session=True, env={**isolation.SANDBOX_ENV, "PYTHONPATH": _package_root()},
        )
        theirs.close()
        self.connection = Connection(ours.detach())
        self.uid = isolation.FIRST_UID + index
        self.connection.send({"layers": layers, "uid": self.uid, "base": base})
        if not self.connection.poll(60):
            raise RuntimeError("the sandbox server did not start")
        status, _ = self.connection.recv()
        assert status == "ready"

    def close(self) -> None:
        try:
            self.connection.close()
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)


def base_parent(layers: dict[str, bool]) -> str | None:
    """Where run directories live: never under /tmp when the servers cover /tmp with a private
    tmpfs (the client would not see them), and reachable by the runs' unprivileged user."""
    configured = os.environ.get("GRPO_SANDBOX_DIR")
    if configured:
        return configured
    if layers.get("mount namespace"):
        for candidate in ("/run", "/var/lib"):
            if os.path.isdir(candidate) and os.access(candidate, os.W_OK) and os.stat(candidate).st_mode & 0o005 == 0o005:
                return candidate
    return None


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Session:
    """One sandboxed program, started on a server; `call()` runs one of its functions."""

    def __init__(self, server: Server, code: str | bytes, mode: str, limits: Limits, deadline: float,
                 stdin: str = "", stdout_cap: int = 1 << 20):
        self.server, self.limits, self.mode = server, limits, mode
        self.deadline = deadline
        self.sequence = 0
        self.finished: dict[str, Any] | None = None
        self.exited = False
        job = {"mode": mode, "code": code, "stdin": stdin, "limits": asdict(limits), "stdout_cap": stdout_cap}
        server.connection.send(("run", job))
        status, self.leader = server.connection.recv()
        assert status == "started"
        self.request_fd = recv_handle(server.connection)
        self.response_fd = recv_handle(server.connection)
        self.names: list[str] = []
        self.load_error: str | None = None
        if mode == "functions":
            try:
                reply = self._receive(min(limits.test_seconds * 2, limits.wall_seconds))
            except (SandboxCrashed, SandboxTimeout) as err:
                reply = ["load_failed", f"{err} while loading"]
            if isinstance(reply, list) and reply and reply[0] == "loaded" and isinstance(reply[-1], list):
                self.names = [str(name) for name in reply[1]]
            else:
                self.load_error = str(reply[1]) if isinstance(reply, list) and len(reply) > 1 else "did not load"

    def _receive(self, seconds: float) -> list[Any]:
        limit = min(seconds, self.deadline - time.monotonic())
        if limit <= 0:
            raise SandboxTimeout("the run's wall-clock limit is spent")
        ready, _, _ = select.select([self.response_fd], [], [], limit)
        if not ready:
            raise SandboxTimeout(f"no answer within {limit:.2f} s")
        try:
            return _wire.recv(self.response_fd)
        except (EOFError, OSError) as err:
            raise SandboxCrashed(f"the program ended or broke its channel ({err})") from None

    def call(self, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Call `name(*args, **kwargs)` inside; returns plain values, raises what it raised."""
        self.sequence += 1
        try:
            _wire.send(self.request_fd, ["call", self.sequence, name, encode(tuple(args)), encode(dict(kwargs))])
        except OSError:
            raise SandboxCrashed("the program is no longer running") from None
        while True:
            reply = self._receive(self.limits.test_seconds)
            if not isinstance(reply, list) or len(reply) < 3 or reply[1] != self.sequence:
                continue  # not an answer to this call (a program may write junk frames): ignore it
            kind = reply[0]
            if kind == "return":
                return decode(reply[2])
            if kind == "unserializable":
                raise SandboxCrashed(reply[2])
            if kind == "raise":
                raise remote_exception(reply[2], reply[3] if len(reply) > 3 else "")
            raise SandboxCrashed(f"unexpected reply {kind!r}")

    def wait_exit(self) -> None:
        """For scripts: wait until the program ends, or the test's time limit."""
        limit = min(self.limits.test_seconds, self.deadline - time.monotonic())
        if self.server.connection.poll(max(limit, 0)):
            message = self.server.connection.recv()
            if message[0] == "exited":
                self.exited = True
                return
        raise SandboxTimeout(f"still running after {self.limits.test_seconds:g} s")

    def finish(self) -> dict[str, Any]:
        """Kill whatever is left of the program and collect its report (stdout, memory, time)."""
        if self.finished is not None:
            return self.finished
        for fd in (self.request_fd, self.response_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.server.connection.send(("finish",))
        while True:
            message = self.server.connection.recv()
            if message[0] == "finished":
                self.finished = message[1]
                return self.finished


_BUILTIN_EXCEPTIONS = {name: value for name, value in vars(builtins).items()
                       if isinstance(value, type) and issubclass(value, Exception)}


class RemoteError(Exception):
    """An exception raised inside the sandbox whose type is not a builtin one."""


def remote_exception(type_name: str, message: str) -> Exception:
    """Rebuild a builtin exception type by name (tests may expect ValueError); others are RemoteError.
    SystemExit and other BaseExceptions become RemoteError, so they can never end the test code."""
    cls = _BUILTIN_EXCEPTIONS.get(type_name)
    if cls is not None:
        try:
            return cls(message)
        except Exception:
            pass
    return RemoteError(f"{type_name}: {message}")
