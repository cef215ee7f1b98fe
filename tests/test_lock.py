"""One process per run folder: a second holder is refused with the first one named; a record left
by a dead process is taken over with a warning; a released folder can be taken again."""

import json
import os
import socket

import pytest

from grpo.lock import RunFolderLocked, RunLock


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunFolderLocked) as err:
            with RunLock(tmp_path / "run"):
                pass
    message = str(err.value)
    assert f"is in use by pid {os.getpid()} on {socket.gethostname()}" in message and "one process per run folder" in message


def test_released_folders_can_be_taken_again(tmp_path):
    with RunLock(tmp_path):
        pass
    with RunLock(tmp_path):
        pass
    assert (tmp_path / ".lock").read_text() == ""


def test_a_dead_holders_record_is_taken_over_with_a_warning(tmp_path, capsys):
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)  # a pid that no longer runs
    (tmp_path / ".lock").write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": 0, "command": "grpo train"}))
    with RunLock(tmp_path):
        holder = json.loads((tmp_path / ".lock").read_text())
        assert holder["pid"] == os.getpid()
    assert f"taking over the lock of {tmp_path} left by pid {dead}" in capsys.readouterr().err
