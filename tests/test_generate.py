"""The generate stage's bookkeeping: kept rows carry their provenance, chunk statistics add up, and a
stage that keeps nothing says what each verifier accepted and what to change."""

import json

import pytest

from grpo.config import recipe_from_dict
from grpo.generate import accept_labels, merge_chunks, select_chunk, write_dataset, zero_accepted_message
from grpo.rollout.base import Completion
from grpo.rollout.collect import ScoredRollouts
from rewards.combine import Scores
from tests.conftest import minimal_recipe

RIGHT = " <think> 1+2=3 </think> <answer> 3 </answer>"
WRONG = " <think> 1+2=4 </think> <answer> 4 </answer>"


def recipe(tmp_path, **generate):
    raw = minimal_recipe(tmp_path, rewards={"verifiers": [{"name": "answer"}, {"name": "format", "weight": 0.2}]},
                         generate={"samples_per_prompt": 2, "near_duplicate_threshold": None, **generate})
    return recipe_from_dict(raw)


def scored(texts, answers, formats):
    completions = [Completion(i // 2, [1], [1] * 5, text, [0.0] * 5, "stop") for i, text in enumerate(texts)]
    rows = [{"prompt": f"q{i // 2}", "answer": "3", "a": i // 2} for i in range(len(texts))]
    return ScoredRollouts(completions, rows, Scores([0.0] * len(texts), {"answer": answers, "format": formats}))


def test_kept_rows_carry_the_row_the_completion_and_provenance(tmp_path):
    batch = scored([RIGHT, WRONG, WRONG, WRONG], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0])
    records, stats = select_chunk(batch, recipe(tmp_path), ["answer"], offset=10, source="runs/x/model")
    assert len(records) == 1
    record = records[0]
    assert record["prompt"] == "q0" and record["answer"] == "3" and record["completion"] == RIGHT and record["a"] == 0
    assert record["provenance"] == {"stage": "test", "checkpoint": "runs/x/model", "prompt_index": 10, "sample_index": 0,
                                    "scores": {"answer": 1.0, "format": 1.0}, "completion_tokens": 5, "pass_rate": 0.5}
    assert (stats["prompts"], stats["samples"], stats["kept"]) == (2, 4, 1)
    assert stats["rejected"]["verifier"] == 3 and stats["accepted_by"] == {"answer": 1}
    assert stats["difficulty"] == {"easy (0.5-0.75)": {"prompts": 1, "samples": 2, "kept": 1},
                                   "unsolved (0)": {"prompts": 1, "samples": 2, "kept": 0}}


def test_chunks_merge_into_totals_and_rates(tmp_path):
    r = recipe(tmp_path)
    first = select_chunk(scored([RIGHT, WRONG], [1.0, 0.0], [1.0, 1.0]), r, ["answer"], 0, "m")
    second = select_chunk(scored([RIGHT, RIGHT + " "], [1.0, 1.0], [1.0, 1.0]), r, ["answer"], 1, "m")
    for index, (records, stats) in enumerate([first, second]):
        (tmp_path / f"chunk_{index:05d}.json").write_text(json.dumps({"records": records, "stats": stats}))
    records, total = merge_chunks(tmp_path, 2, ["answer"])
    assert len(records) == 2  # the second prompt's two samples are duplicates after normalising whitespace
    assert (total["samples"], total["kept"], total["acceptance"]) == (4, 2, 0.5)
    assert total["rejected"]["verifier"] == 1 and total["rejected"]["duplicate"] == 1
    assert total["difficulty"]["easiest (0.75-1]"] == {"prompts": 1, "samples": 2, "kept": 1, "acceptance": 0.5}


def test_datasets_are_written_as_jsonl_or_parquet(tmp_path):
    import pyarrow.parquet as pq

    records = [{"prompt": "q", "completion": RIGHT, "provenance": {"scores": {"answer": 1.0}}}]
    jsonl = write_dataset(tmp_path, records, "jsonl")
    assert [json.loads(line) for line in jsonl.read_text().splitlines()] == records
    parquet = write_dataset(tmp_path, records, "parquet")
    assert pq.read_table(parquet).to_pylist() == records


def test_zero_accepted_names_each_verifier_and_the_fix(tmp_path):
    r = recipe(tmp_path)
    _, stats = select_chunk(scored([WRONG, WRONG], [0.0, 0.0], [1.0, 0.0]), r, ["answer", "format"], 0, "m")
    message = zero_accepted_message(r, stats, ["answer", "format"])
    assert "kept 0 of 2 samples (1 prompts x 2)" in message
    assert "answer 0/2, format 1/2" in message and "verifier 2" in message
    assert "generate.samples_per_prompt" in message


def test_accept_defaults_to_the_correctness_verifier(tmp_path):
    assert accept_labels(recipe(tmp_path)) == ["answer"]
    assert accept_labels(recipe(tmp_path, accept=["format", "answer"])) == ["format", "answer"]
    with pytest.raises(Exception, match="not verifier labels"):
        accept_labels(recipe(tmp_path, accept=["nope"]))
