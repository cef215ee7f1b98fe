"""Run logger: metrics JSONL, resume truncation, samples, NaN handling."""

import json

from grpo.logging import RunLogger, read_metrics


def test_log_truncate_and_samples(tmp_path, capsys):
    logger = RunLogger(tmp_path, total_steps=3)
    for step in (1, 2, 3):
        logger.log(step, {"reward/mean": step / 10, "accuracy": float("nan"), "time/step": 0.1})
    out = capsys.readouterr().out
    assert "step    3/3  reward 0.300" in out
    assert [m["step"] for m in read_metrics(tmp_path)] == [1, 2, 3]
    assert read_metrics(tmp_path)[0]["accuracy"] is None  # NaN is not valid JSON
    logger.truncate_after(2)
    assert [m["step"] for m in read_metrics(tmp_path)] == [1, 2]
    logger.write_samples(2, [{"completion": "x"}])
    assert json.loads((tmp_path / "samples" / "step_000002.jsonl").read_text())["completion"] == "x"


def test_say_prints_under_the_label_only_with_progress(tmp_path, capsys):
    RunLogger(tmp_path, 4, progress=True, label="[stage 2/5 rl]").say("learners ready in 3 s")
    RunLogger(tmp_path, 4, progress=False, label="[stage 2/5 rl]").say("not shown")
    assert capsys.readouterr().out == "[stage 2/5 rl] learners ready in 3 s\n"
