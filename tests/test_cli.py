"""The command line: dry runs, friendly errors with exit code 2, no tracebacks for bad input."""

import pytest

from grpo.cli import main
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_dry_run_validates_and_trains_nothing(capsys, tmp_path):
    assert main(["train", "recipes/quickstart.yaml", f"output_dir={tmp_path}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ok: 4000 training prompts, 200 test prompts, 128 completions per step" in out
    assert not (tmp_path / "quickstart").exists()


def test_bad_override_is_one_clear_error(capsys):
    assert main(["train", "recipes/quickstart.yaml", "rollout.groupsize=8", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'rollout.groupsize'" in err and "Traceback" not in err


def test_bad_task_kwargs_is_one_clear_error(capsys):
    assert main(["train", "recipes/quickstart.yaml", "data.train.task_kwargs.digit=2", "--dry-run"]) == 2
    assert "data.train.task_kwargs" in capsys.readouterr().err


def test_existing_run_is_never_overwritten(capsys, tmp_path):
    (tmp_path / "quickstart").mkdir()
    (tmp_path / "quickstart" / "metrics.jsonl").write_text("{}\n")
    assert main(["train", "recipes/quickstart.yaml", f"output_dir={tmp_path}"]) == 2
    assert "pass --resume" in capsys.readouterr().err


def test_eval_missing_checkpoint(capsys):
    assert main(["eval", "recipes/quickstart.yaml", "--checkpoint", "/no/such/dir"]) == 2
    assert "--checkpoint '/no/such/dir' is not a directory" in capsys.readouterr().err


def test_unknown_flag_is_refused():
    with pytest.raises(SystemExit):
        main(["train", "recipes/quickstart.yaml", "--frobnicate"])


def test_a_time_limit_stop_exits_75_with_one_line(capsys, monkeypatch, tmp_path):
    import grpo.trainer
    from grpo.trainer import TimeLimitReached

    def stopped(recipe, **kwargs):
        raise TimeLimitReached(tmp_path, 4, 10, tmp_path / "checkpoints" / "step_000004", 8.0)

    monkeypatch.setattr(grpo.trainer, "train", stopped)
    assert main(["train", "recipes/quickstart.yaml", f"output_dir={tmp_path}"]) == 75
    err = capsys.readouterr().err
    assert "time limit of 8 min reached after step 4 of 10" in err and "--resume" in err and "Traceback" not in err


def test_time_limit_must_be_positive(capsys):
    assert main(["train", "recipes/quickstart.yaml", "trainer.time_limit_minutes=0", "--dry-run"]) == 2
    assert "trainer.time_limit_minutes" in capsys.readouterr().err
