"""Isolation layers: detected once, applied by the fork server and in each sandboxed process.

Layers (strongest available, each reported by `report()`):
- network namespace: the server and every run below it see only a downed loopback;
- mount namespace: private tmpfs over every world-writable directory (/tmp, /dev/shm, ...), so
  nothing a run writes outside its working directory survives it or reaches the host;
- PID namespace per run: the run's first process is PID 1, so killing it kills every process the
  run started, daemons included, and the host's processes are invisible;
- a separate unprivileged user id per server: no access to root-owned files, no signals to
  other processes, and RLIMIT_NPROC bounds fork bombs;
- rlimits (CPU, address space, file size, open files, processes), scrubbed environment, stdin
  from /dev/null or the test input, stdout/stderr to capped files.
Without root or namespaces the run still gets its own process group and rlimits, with a warning.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import warnings
from dataclasses import dataclass, field

from sandboxes.limits import Limits

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV, MS_BIND = 0x4000, 0x40000, 0x2, 0x4, 0x1000
SANDBOX_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONHASHSEED": "0"}
FIRST_UID = 61000


class IsolationError(RuntimeError):
    """Full isolation was required but a layer is missing."""


@dataclass
class Report:
    layers: dict[str, bool] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return all(self.layers.values())

    def missing(self) -> list[str]:
        return [name for name, ok in self.layers.items() if not ok]

    def __str__(self) -> str:
        return ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in self.layers.items())


_REPORT: Report | None = None
_WARNED = False


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def report() -> Report:
    """Which layers this machine allows, probed once in a throwaway child process."""
    global _REPORT
    if _REPORT is None:
        probe = ("import sandboxes.isolation as i, json; print(json.dumps(i._probe()))")
        try:
            out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30,
                                 env={**os.environ}).stdout.strip().splitlines()[-1]
            import json

            _REPORT = Report(json.loads(out))
        except Exception:
            _REPORT = Report({"network namespace": False, "mount namespace": False, "pid namespace": False,
                              "separate user id": False, "rlimits": True})
    return _REPORT


def _probe() -> dict[str, bool]:
    libc = _libc()
    layers = {"network namespace": libc.unshare(CLONE_NEWNET) == 0}
    layers["mount namespace"] = libc.unshare(CLONE_NEWNS) == 0 and _private_mounts_ok(libc)
    layers["pid namespace"] = libc.unshare(CLONE_NEWPID) == 0
    layers["separate user id"] = os.geteuid() == 0
    layers["rlimits"] = True
    return layers


def _private_mounts_ok(libc: ctypes.CDLL) -> bool:
    return libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0


def check(require_full: bool) -> Report:
    """Refuse to start when full isolation is required and missing; otherwise warn once."""
    global _WARNED
    found = report()
    if not found.full:
        message = f"sandbox isolation is partial ({found}); missing: {', '.join(found.missing())}"
        if require_full:
            raise IsolationError(message + ". Run as root on Linux with namespaces, or drop require_full_isolation")
        if not _WARNED:
            warnings.warn(message + ". Untrusted code runs with rlimits and its own process group only.", stacklevel=3)
            _WARNED = True
    return found


def enter_server_namespaces(layers: dict[str, bool]) -> None:
    """In the fork server, once: no network, and private tmpfs over world-writable directories."""
    libc = _libc()
    if layers.get("network namespace"):
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    if layers.get("mount namespace"):
        if libc.unshare(CLONE_NEWNS) != 0 or not _private_mounts_ok(libc):
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        for directory in world_writable_directories():
            libc.mount(b"tmpfs", directory.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m,mode=1777")
        if layers.get("separate user id"):
            expose(interpreter_paths(), libc)


def interpreter_paths() -> list[str]:
    """What a run must be able to read: the interpreter's prefixes and every import path."""
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, *[p for p in sys.path if p]}
    return sorted(p for p in paths if os.path.exists(p))


def expose(paths: list[str], libc: ctypes.CDLL) -> None:
    """Make `paths` reachable by an unprivileged user without changing anything on the host.

    A directory others may not traverse (such as /root, mode 0700) that leads to a needed path
    is covered, in this private mount namespace only, by a 0711 tmpfs into which just the needed
    children are bind-mounted back. Everything else in it disappears from the runs' view.
    """
    staging = "/run/grpo-sandbox-staging" if os.path.isdir("/run") else "/dev/grpo-sandbox-staging"
    for _ in range(8):  # nested blocked directories are handled one level per pass
        blocked = _blocked_ancestors(paths)
        if not blocked:
            return
        directory = min(blocked, key=lambda d: d.count("/"))
        children = sorted({p[len(directory) :].lstrip("/").split("/")[0] for p in paths if p.startswith(directory + "/")})
        os.makedirs(staging, exist_ok=True)
        kept = []
        for index, child in enumerate(children):
            source, target = os.path.join(directory, child), os.path.join(staging, str(index))
            os.makedirs(target, exist_ok=True) if os.path.isdir(source) else open(target, "a").close()
            if libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None) == 0:
                kept.append((child, target, os.path.isdir(source)))
        if libc.mount(b"tmpfs", directory.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0711") != 0:
            raise OSError(ctypes.get_errno(), f"mount tmpfs on {directory}")
        for child, target, is_dir in kept:
            destination = os.path.join(directory, child)
            os.makedirs(destination, exist_ok=True) if is_dir else open(destination, "a").close()
            libc.mount(target.encode(), destination.encode(), None, MS_BIND | MS_REC, None)


def _blocked_ancestors(paths: list[str]) -> set[str]:
    """Directories on the way to `paths` that others cannot traverse."""
    blocked = set()
    for path in paths:
        parts = os.path.abspath(path).split("/")[1:]
        for depth in range(1, len(parts)):
            directory = "/" + "/".join(parts[:depth])
            try:
                if not os.stat(directory).st_mode & 0o001:
                    blocked.add(directory)
                    break
            except OSError:
                break
    return blocked


def world_writable_directories() -> list[str]:
    """Directories anyone may write to (sticky /tmp and friends), outside /proc and /sys."""
    found = []
    for candidate in ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run/lock", "/var/lock"):
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        if os.path.isdir(candidate) and not os.path.islink(candidate) and info.st_mode & 0o002:
            found.append(candidate)
    return found


def new_pid_namespace(layers: dict[str, bool]) -> bool:
    """Make the caller's next child PID 1 of a fresh namespace."""
    return bool(layers.get("pid namespace")) and _libc().unshare(CLONE_NEWPID) == 0


def mount_proc() -> None:
    """Inside a new PID namespace (with its own mount namespace), /proc must show only the run."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) == 0 and _private_mounts_ok(libc):
        libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV, None)


def apply_limits(limits: Limits) -> None:
    def cap(kind: int, value: int) -> None:
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass

    cap(resource.RLIMIT_CPU, int(limits.cpu_seconds))
    cap(resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024)
    cap(resource.RLIMIT_FSIZE, limits.file_size_mb * 1024 * 1024)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_NPROC, limits.processes)
    cap(resource.RLIMIT_CORE, 0)


def drop_privileges(uid: int) -> None:
    """Become `uid` with no supplementary groups (only possible as root)."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
