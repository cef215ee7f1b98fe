"""Run one benchmark row in its own process session, and take the whole session down with it.

Why: a device call ends its command with `timeout`, which signals the driver only. On 2026-12-06
the 7B LoRA call's driver was stopped mid-row and its row (TRL with a colocated vLLM and their
helpers) went on holding 50 GiB of the GPU into the next call. A row started here runs in a
session of its own; when the driver is stopped (SIGTERM, SIGINT, or the row's own time limit),
every process of that session is killed before the driver exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO


class Stopped(Exception):
    """The driver was asked to stop (SIGTERM) while a row ran."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(f"signal {signum}")


def run_isolated(command: Sequence[str], log: IO[str], *, cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None, timeout: float | None = None) -> int | str:
    """The row's exit code, or "timeout" once `timeout` seconds have passed (the row is killed).

    A SIGTERM (or Ctrl-C) to the driver kills the row's session and then exits the driver with
    status 143, as `timeout` meant it to stop, without leaving a GPU process behind. Call it from
    the main thread (Python delivers signals there)."""
    child = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                             env=dict(env) if env is not None else None, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        return child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_session(child)
        return "timeout"
    except (Stopped, KeyboardInterrupt):
        _kill_session(child)
        raise SystemExit(143) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kill_session(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:  # the row and its whole session are already gone
        pass
    child.wait()
