"""Resource limits of one sandboxed run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0  # the whole run: program start and every test
    test_seconds: float = 2.0  # one call or one stdin/stdout case
    cpu_seconds: int = 10  # RLIMIT_CPU of the sandboxed process tree's leader
    memory_mb: int = 1024  # RLIMIT_AS
    file_size_mb: int = 16  # RLIMIT_FSIZE: also caps stdout/stderr, which go to files
    open_files: int = 64  # RLIMIT_NOFILE
    processes: int = 32  # RLIMIT_NPROC for the run's own user id
    output_excerpt: int = 2000  # characters of stdout/stderr kept in the result

    def __post_init__(self) -> None:
        for name in ("wall_seconds", "test_seconds", "cpu_seconds", "memory_mb", "file_size_mb", "open_files", "processes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be > 0, got {getattr(self, name)}")
