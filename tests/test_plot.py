"""`grpo plot`: curves and a traces page from a run folder."""

import json

from grpo.cli import main


def test_plot_writes_curves_and_traces(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    lines = [{"step": 0, "eval/accuracy": 0.1}]
    for step in range(1, 6):
        lines.append({"step": step, "reward/mean": step / 10, "accuracy": step / 20, "completion/length_mean": 40 + step,
                      "train/entropy": 1 / step, "train/clip_fraction": 0.0})
        (run / "samples" / f"step_{step:06d}.jsonl").write_text(json.dumps(
            {"prompt": f"q{step}", "answer": "4", "completion": f"<think>thinking {step}</think>", "reward": 1.0,
             "scores": {"math": 1.0}, "completion_tokens": 9, "finish_reason": "stop"}) + "\n")
    lines.append({"step": 5, "eval/accuracy": 0.6})
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["plot", str(run)]) == 0
    names = {p.name for p in (run / "plots").iterdir()}
    assert {"reward.png", "accuracy.png", "completion_length.png", "entropy.png", "clip_fraction.png", "traces.md"} <= names
    assert "kl.png" not in names  # no KL was logged
    page = (run / "plots" / "traces.md").read_text()
    assert "## Step 1" in page and "## Step 3" in page and "## Step 5" in page and "thinking 5" in page
    assert (run / "plots" / "reward.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_of_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "holds no metrics.jsonl" in capsys.readouterr().err
