"""`grpo check`: the quickstart passes; a verl-layout parquet without a mapping is a fatal finding and
with one passes; deliberately corrupted answers are found by the reference check."""

import json

import yaml

from grpo.cli import main
from tests.conftest import ROOT, minimal_recipe

FORMAT = " <think> {solution} </think> <answer> {answer} </answer>"


def run(args, capsys):
    code = main(["check", *args])
    return code, capsys.readouterr().out


def test_the_quickstart_passes_with_every_section(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out = run(["recipes/quickstart.yaml", "--no-base", "--solution-format", FORMAT], capsys)
    assert code == 0, out
    for section in ("== model", "== data", "== verifiers", "== reference check", "verdict: ok to train"):
        assert section in out
    assert "answer: accepts 4000 of 4000 reference solutions" in out
    assert "'A conversation between User and Assistant." in out  # prompts as the model sees them
    assert "limit 416" in out


def verl_parquet(path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from grpo.tasks import generate_arithmetic

    rows = [{"data_source": "arithmetic", "prompt": [{"role": "user", "content": r["prompt"]}], "ability": "math",
             "reward_model": {"style": "rule", "ground_truth": r["answer"]}, "extra_info": {"index": i}}
            for i, r in enumerate(generate_arithmetic("train", 32, seed=3))]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def test_a_verl_parquet_is_read_unmapped_and_the_base_is_tried(tmp_path, capsys):
    raw = minimal_recipe(tmp_path, data={"train": {"path": verl_parquet(tmp_path / "train.parquet")}})
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    recipe = [str(tmp_path / "r.yaml"), "--prompts", "8", "--samples", "4"]
    code, out = run(recipe + ["rollout.max_completion_tokens=96", "rollout.stop=['</answer>']"], capsys)
    assert code == 0, out
    assert "reading answer_column=reward_model.ground_truth" in out  # said, not silent
    assert "answer: reads answer (present)" in out and "pass@4 (answer)" in out
    # with a budget too short to answer, the base solves nothing: a fatal finding, and why
    code, out = run(recipe, capsys)
    assert code == 1 and "the base solves 0 of 8 prompts at K = 4: too hard for RL from this base" in out
    assert "100% of samples hit rollout.max_completion_tokens" in out


def test_corrupted_answers_are_found_by_the_reference_check(tmp_path, capsys):
    from grpo.tasks import generate_arithmetic

    rows = generate_arithmetic("train", 40, seed=1)
    for index in (3, 17, 29):
        rows[index]["answer"] = str(int(rows[index]["answer"]) + 10)
    path = tmp_path / "corrupt.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = minimal_recipe(tmp_path, data={"train": {"path": str(path)}},
                         rewards={"verifiers": [{"name": "math"}, {"name": "format", "weight": 0.2}]})
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    code, out = run([str(tmp_path / "r.yaml"), "--no-base"], capsys)
    assert code == 1
    assert "math: accepts 37 of 40 reference solutions" in out
    assert "[fatal] reference check: math rejects 3 of 40 reference solutions: the verifier and the data disagree (rows 3, 17, 29)" in out
    assert "row 17: answer" in out


def test_a_pipeline_is_refused(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check", "recipes/r1-quickstart.yaml"]) == 2
    assert "takes a single-run recipe" in capsys.readouterr().err
