"""Checkpoints appear atomically, the latest complete one is found, old ones are pruned."""

from grpo import checkpoint


def fake_learner(files):
    def write(path):
        for name in files:
            (__import__("pathlib").Path(path) / name).write_text("x")
    return write


def test_save_latest_and_prune(tmp_path):
    for step in (10, 20, 30):
        checkpoint.save(tmp_path, step, fake_learner(["w"]), {"seed": 0}, keep_last=2)
    names = [p.name for p in checkpoint.completed(tmp_path)]
    assert names == ["step_000020", "step_000030"]
    assert checkpoint.read_driver_state(checkpoint.latest(tmp_path))["step"] == 30


def test_interrupted_save_is_ignored(tmp_path):
    checkpoint.save(tmp_path, 10, fake_learner(["w"]), {}, keep_last=3)
    staging = tmp_path / "checkpoints" / "step_000020.tmp"
    staging.mkdir()
    (staging / "w").write_text("half")
    incomplete = tmp_path / "checkpoints" / "step_000030"
    incomplete.mkdir()  # no driver_state.json: never finished
    assert checkpoint.latest(tmp_path).name == "step_000010"


def test_no_checkpoints(tmp_path):
    assert checkpoint.latest(tmp_path) is None


def test_the_marker_lists_every_file_with_size_and_checksum(tmp_path):
    saved = checkpoint.save(tmp_path, 10, fake_learner(["w", "learner_state.pt"]), {}, keep_last=3)
    files = checkpoint.read_driver_state(saved)["files"]
    import hashlib

    assert files["w"] == {"size": 1, "sha256": hashlib.sha256(b"x").hexdigest()}
    assert checkpoint.damage(saved) is None


def test_a_damaged_newest_checkpoint_is_set_aside_and_the_previous_one_chosen(tmp_path, capsys):
    checkpoint.save(tmp_path, 10, fake_learner(["w", "learner_state.pt"]), {}, keep_last=3)
    newest = checkpoint.save(tmp_path, 20, fake_learner(["w", "learner_state.pt"]), {}, keep_last=3)
    (newest / "learner_state.pt").write_text("")  # truncated, as a full disk leaves it
    chosen = checkpoint.choose(tmp_path)
    assert chosen.name == "step_000010"
    assert "checkpoint step_000020 is damaged (learner_state.pt is 0 bytes, 1 were written)" in capsys.readouterr().err
    assert (tmp_path / "checkpoints" / "step_000020.damaged" / "w").exists()  # renamed aside, never deleted
    assert [p.name for p in checkpoint.completed(tmp_path)] == ["step_000010"]


def test_same_size_corruption_is_caught_by_the_checksum(tmp_path):
    saved = checkpoint.save(tmp_path, 10, fake_learner(["w"]), {}, keep_last=3)
    (saved / "w").write_text("y")
    assert checkpoint.damage(saved) == "w does not match its checksum"


def test_resume_from_a_chosen_step(tmp_path):
    import pytest

    for step in (10, 20):
        checkpoint.save(tmp_path, step, fake_learner(["w"]), {}, keep_last=3)
    assert checkpoint.choose(tmp_path, 10).name == "step_000010"
    with pytest.raises(checkpoint.CheckpointError, match=r"--resume-from 15: no complete checkpoint .* \(have: \[10, 20\]\)"):
        checkpoint.choose(tmp_path, 15)


def test_a_failed_save_leaves_earlier_checkpoints_intact(tmp_path):
    import errno

    import pytest

    checkpoint.save(tmp_path, 10, fake_learner(["w"]), {}, keep_last=1)

    def full_disk(path):
        (__import__("pathlib").Path(path) / "w").write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.save(tmp_path, 20, full_disk, {}, keep_last=1)
    message = str(err.value)
    assert "saving the checkpoint of step 20 failed (OSError: [Errno 28] No space left on device)" in message
    assert "earlier checkpoints are intact (step_000010)" in message and "--resume" in message
    assert [p.name for p in checkpoint.completed(tmp_path)] == ["step_000010"]
    assert checkpoint.damage(checkpoint.latest(tmp_path)) is None
    assert not (tmp_path / "checkpoints" / "step_000020.tmp").exists()
