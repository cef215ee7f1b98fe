"""benchmarks/row_process.py: a stopped benchmark row leaves no process of its own behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.row_process import run_isolated  # noqa: E402

# A row that starts a helper of its own (as vLLM's engine core or a Ray worker is), notes the
# helper's pid, and then waits: stopping the row must take the helper down with it.
ROW = textwrap.dedent("""
    import subprocess, sys, time
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open(sys.argv[1], "w").write(str(helper.pid))
    time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for(path: Path, seconds: float = 30) -> int:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written within {seconds} s")


def _gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_the_exit_code_of_a_finished_row_comes_back(tmp_path: Path) -> None:
    with open(tmp_path / "log", "w") as log:
        code = run_isolated([sys.executable, "-c", "print('row'); raise SystemExit(3)"], log)
    assert code == 3
    assert (tmp_path / "log").read_text() == "row\n"


def test_a_row_past_its_time_is_killed_with_its_helpers(tmp_path: Path) -> None:
    script, pid_file = tmp_path / "row.py", tmp_path / "helper.pid"
    script.write_text(ROW)
    with open(tmp_path / "log", "w") as log:
        started = time.time()
        code = run_isolated([sys.executable, str(script), str(pid_file)], log, timeout=3)
    assert code == "timeout"
    assert time.time() - started < 30
    assert _gone(_wait_for(pid_file)), "the row's helper outlived the row's time limit"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_driver_takes_its_rows_helpers_down(tmp_path: Path, stop: signal.Signals) -> None:
    """What `timeout 560 python benchmarks/realistic_step.py ...` does on the device machine."""
    script, pid_file = tmp_path / "row.py", tmp_path / "helper.pid"
    script.write_text(ROW)
    driver = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from benchmarks.row_process import run_isolated
        with open({str(tmp_path / 'log')!r}, "w") as log:
            run_isolated([sys.executable, {str(script)!r}, {str(pid_file)!r}], log)
        print("the driver went on")
    """)], stdout=subprocess.PIPE, text=True)
    helper = _wait_for(pid_file)
    assert _alive(helper)
    driver.send_signal(stop)
    output, _ = driver.communicate(timeout=30)
    assert driver.returncode == 143
    assert "went on" not in output
    assert _gone(helper), "the row's helper outlived the stopped driver"
