"""One process per run folder: an advisory lock taken atomically when a run starts.

Two launches into one folder (a double submit, a scheduler retry) would otherwise both "succeed",
each step twice in metrics.jsonl and each overwriting the other's checkpoints. `fcntl.flock` is
atomic and released by the kernel when its holder dies, so a crashed run never blocks the next;
the file records who holds it (pid, host, start, command) for the refusal message, and a record
left by a dead process on this host is reported as taken over.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from grpo.config import RecipeError

LOCK_FILE = ".lock"


class RunFolderLocked(RecipeError):
    """Another process holds the run folder."""


class RunLock:
    """`with RunLock(run_dir):` holds the folder for the block; only the driver takes it."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._handle = None

    def __enter__(self) -> "RunLock":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(self.path)
            handle.close()
            raise RunFolderLocked(
                f"run folder {self.run_dir} is in use by {_describe(holder)}; wait for that run to end or stop it "
                "(one process per run folder), or change `name` / `output_dir`"
            ) from None
        previous = _read(self.path)
        if previous.get("host") == socket.gethostname() and previous.get("pid") and not _alive(previous["pid"]):
            print(f"warning: taking over the lock of {self.run_dir} left by {_describe(previous)}, which is no "
                  "longer running", file=sys.stderr, flush=True)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                                 "command": " ".join(sys.argv)[:300]}))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()  # an empty record: released cleanly, nothing to take over
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder['pid']} on {holder.get('host', '?')} since {started} ({holder.get('command', '')})"


def is_held(run_dir: Path) -> bool:
    """Whether a live process holds the run folder now (`grpo runs` shows it as running)."""
    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
