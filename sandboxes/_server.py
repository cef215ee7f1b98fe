"""The fork server: a warm interpreter (started as `python -m sandboxes._server FD`) that enters its
network and mount namespaces once, then forks one isolated process tree per run.

Per run: fork an intermediate, which makes its next child PID 1 of a new PID namespace and forks
it; that process mounts its own /proc, moves to a fresh working directory, redirects its standard
streams, sets rlimits, drops to the server's unprivileged user id and runs sandboxes._inside.
Killing it ends the whole namespace. The client talks to it directly over two pipes whose ends
the server passes across with SCM_RIGHTS.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import send_handle
from typing import Any

from sandboxes import _inside, _wire, isolation  # noqa: F401  (imported once: forks start warm)
from sandboxes.limits import Limits


def main(fd: int) -> None:
    connection = Connection(fd)
    config = connection.recv()
    layers, uid, base = config["layers"], config["uid"], config["base"]
    os.environ.clear()
    os.environ.update(isolation.SANDBOX_ENV)
    isolation.enter_server_namespaces(layers)
    connection.send(("ready", os.getpid()))
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request[0] == "run":
            _run(connection, request[1], layers, uid, base)


def _run(connection: Connection, job: dict[str, Any], layers: dict[str, bool], uid: int, base: str) -> None:
    limits = Limits(**job["limits"])
    workdir = tempfile.mkdtemp(prefix="run-", dir=base)
    as_root = os.geteuid() == 0
    if as_root:
        os.chown(workdir, uid, uid)
    os.chmod(workdir, 0o700)
    stdin_path = os.path.join(workdir, ".stdin")
    with open(stdin_path, "wb") as handle:
        handle.write(job.get("stdin", "").encode("utf-8", "surrogateescape"))
    request_r, request_w = os.pipe()
    response_r, response_w = os.pipe()
    status_r, status_w = os.pipe()
    started = time.monotonic()
    intermediate = os.fork()
    if intermediate == 0:
        os.close(request_w)
        os.close(response_r)
        os.close(status_r)
        _intermediate(job, limits, layers, uid if as_root else None, workdir, request_r, response_w, status_w)
    os.close(request_r)
    os.close(response_w)
    os.close(status_w)
    leader = _read_leader(status_r)
    connection.send(("started", leader))
    send_handle(connection, request_w, os.getpid())
    send_handle(connection, response_r, os.getpid())
    os.close(request_w)
    os.close(response_r)
    # wait for the client's "finish"; tell it when the program exits on its own
    exited_sent = False
    while True:
        ready = wait([connection] + ([] if exited_sent else [status_r]))
        if status_r in ready and not exited_sent:
            connection.send(("exited",))
            exited_sent = True
        if connection in ready:
            try:
                message = connection.recv()
            except EOFError:
                message = ("finish",)
            if message[0] == "finish":
                break
    _kill_tree(leader, layers, uid)
    _, intermediate_status = os.waitpid(intermediate, 0)
    report = _read_report(status_r)
    os.close(status_r)
    info = {
        "status": report.get("status"),
        "signal": report.get("signal"),
        "max_rss_mb": report.get("max_rss_kb", 0) / 1024,
        "cpu_seconds": report.get("cpu_seconds", 0.0),
        "seconds": time.monotonic() - started,
        "stdout": _read_capped(os.path.join(workdir, ".stdout"), job.get("stdout_cap", 1 << 20)),
        "stderr": _read_capped(os.path.join(workdir, ".stderr"), limits.output_excerpt),
    }
    shutil.rmtree(workdir, ignore_errors=True)
    _wipe_private_tmp(layers)
    connection.send(("finished", info))


def _intermediate(job: dict[str, Any], limits: Limits, layers: dict[str, bool], uid: int | None, workdir: str,
                  request_r: int, response_w: int, status_w: int) -> None:
    """Fork the run's leader (PID 1 of a new namespace when possible), report its pid, reap it."""
    try:
        own_namespace = isolation.new_pid_namespace(layers)
        leader = os.fork()
        if leader == 0:
            os.close(status_w)
            _leader(job, limits, own_namespace, uid, workdir, request_r, response_w)
        os.close(request_r)
        os.close(response_w)
        _wire.send(status_w, {"leader": leader})
        _, status, usage = os.wait4(leader, 0)
        _wire.send(status_w, {
            "status": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "max_rss_kb": usage.ru_maxrss, "cpu_seconds": usage.ru_utime + usage.ru_stime,
        })
    finally:
        os._exit(0)


def _leader(job: dict[str, Any], limits: Limits, own_namespace: bool, uid: int | None, workdir: str,
            request_r: int, response_w: int) -> None:
    try:
        if own_namespace:
            isolation.mount_proc()
        os.setsid()
        os.chdir(workdir)
        stdin = os.open(os.path.join(workdir, ".stdin"), os.O_RDONLY)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        stdout = os.open(os.path.join(workdir, ".stdout"), flags, 0o600)
        stderr = os.open(os.path.join(workdir, ".stderr"), flags, 0o600)
        if uid is not None:
            os.fchown(stdout, uid, uid)
            os.fchown(stderr, uid, uid)
        for source, target in ((stdin, 0), (stdout, 1), (stderr, 2), (request_r, 3), (response_w, 4)):
            os.dup2(source, target)
        os.closerange(5, 65536)
        os.unlink(os.path.join(workdir, ".stdin"))
        os.environ.clear()
        os.environ.update({**isolation.SANDBOX_ENV, "HOME": workdir, "TMPDIR": workdir})
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        isolation.apply_limits(limits)
        if uid is not None:
            isolation.drop_privileges(uid)
        sys.argv = ["solution.py"]
        _inside.main(job["mode"], job["code"])
    finally:
        os._exit(70)


def _read_leader(status_r: int) -> int:
    return int(_wire.recv(status_r)["leader"])


def _read_report(status_r: int) -> dict[str, Any]:
    try:
        return _wire.recv(status_r)
    except EOFError:
        return {}


def _kill_tree(leader: int, layers: dict[str, bool], uid: int) -> None:
    """PID namespace: killing its PID 1 kills everything in it. Otherwise: the process group, then
    every process left running under the run's user id (daemons that called setsid)."""
    for target in (leader, -leader):
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if not layers.get("pid namespace") and os.geteuid() == 0:
        for _ in range(3):
            strays = _processes_of(uid)
            if not strays:
                break
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except FileNotFoundError:
                pass
    return found


def _read_capped(path: str, cap: int) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(cap).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _wipe_private_tmp(layers: dict[str, bool]) -> None:
    """Our tmpfs mounts are private to this server: empty them so no run sees another's files."""
    if not layers.get("mount namespace"):
        return
    for directory in isolation.world_writable_directories():
        for entry in os.listdir(directory):
            path = os.path.join(directory, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


if __name__ == "__main__":
    main(int(sys.argv[1]))
