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
