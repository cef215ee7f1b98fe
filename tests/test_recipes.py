"""The real-model recipes validate on CPU with a tiny stand-in model and local files that carry the
public datasets' real column names, so a broken recipe cannot land."""

import pytest

from grpo.cli import main
from tests.conftest import ROOT, TINY_BASE

SAMPLES = ROOT / "tests" / "data" / "hub_samples"
# the stand-in reads 512 positions; the real bases' budgets would not fit it (a recipe error)
FITS_THE_STAND_IN = ["rollout.max_prompt_tokens=256", "rollout.max_completion_tokens=128"]
# the stand-in completion answers with the reference: right for math, not an expression for countdown
CASES = {
    "r1-zero-countdown.yaml": ("countdown.jsonl", "countdown.jsonl", "0.0"),
    "r1-zero-gsm8k.yaml": ("gsm8k.jsonl", "gsm8k.jsonl", "1.0"),
    "r1-zero-math.yaml": ("math_train.jsonl", "math500.jsonl", "1.0"),
}


@pytest.mark.parametrize("recipe", sorted(CASES))
def test_real_model_recipe_dry_run(recipe, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    train, test, expected = CASES[recipe]
    code = main(["train", f"recipes/{recipe}", "--dry-run", f"model.path={TINY_BASE}", *FITS_THE_STAND_IN,
                 f"data.train={{path: {SAMPLES / train}}}", f"data.test={{path: {SAMPLES / test}}}"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "ok:" in out.out and "verifier" in out.out
    first_verifier = out.out.split("verifier ")[1].splitlines()[0]
    assert f": {expected} on a stand-in completion" in first_verifier, out.out


def test_math_recipe_answer_column_names_the_gold_answer(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    main(["train", "recipes/r1-zero-math.yaml", "--dry-run", f"model.path={TINY_BASE}", *FITS_THE_STAND_IN,
          f"data.train={{path: {SAMPLES / 'math_train.jsonl'}}}", "data.test=null"])
    assert "verifier math: 1.0" in capsys.readouterr().out
