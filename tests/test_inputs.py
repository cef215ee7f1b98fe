"""Inputs checked before the first step: each kind of bad data gives one clear error (or, by option,
a logged drop), and valid data passes unchanged."""

import json

import pytest
import yaml

from grpo.config import RecipeError, recipe_from_dict
from grpo.data import DataError, column
from grpo.inputs import invalid_rows, overlapping, verifier_needs
from grpo.model_source import with_prompt_limit
from grpo.trainer import load_data
from tests.conftest import TINY_BASE, minimal_recipe


@pytest.fixture(scope="module")
def tokenizer():
    from grpo.policy import load_tokenizer

    return load_tokenizer(recipe_from_dict(minimal_recipe(TINY_BASE)).model)


def write_rows(tmp_path, rows, name="rows.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def recipe(tmp_path, rows, test_rows=None, **sections):
    data = {"train": {"path": write_rows(tmp_path, rows)}, **sections.pop("data", {})}
    if test_rows is not None:
        data["test"] = {"path": write_rows(tmp_path, test_rows, "test.jsonl")}
    raw = minimal_recipe(tmp_path, data=data, **sections)
    return with_prompt_limit(recipe_from_dict(raw))


ROWS = [{"prompt": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(8)]


def test_valid_data_passes_unchanged(tmp_path, tokenizer):
    train, test = load_data(recipe(tmp_path, ROWS), tokenizer)
    assert [r["prompt"] for r in train] == [r["prompt"] for r in ROWS] and test == []


def test_no_answer_column_names_the_column_the_columns_and_the_fix(tmp_path, tokenizer):
    nested = [{"prompt": "What is 369 + 539?", "label": {"value": "908"}}] * 4
    with pytest.raises(DataError) as err:
        load_data(recipe(tmp_path, nested), tokenizer)
    message = str(err.value)
    assert "data.answer_column = 'answer' is not a column of data.train (columns: ['label'])" in message
    assert "'answer' needs the reference answer" in message
    train, _ = load_data(recipe(tmp_path, nested, data={"answer_column": "label.value"}), tokenizer)
    assert train[0]["answer"] == "908"
    # verl's layout is known: its ground truth is read without a mapping
    verl = [{"prompt": "What is 369 + 539?", "reward_model": {"ground_truth": "908", "style": "rule"}}] * 4
    assert load_data(recipe(tmp_path, verl), tokenizer)[0][0]["answer"] == "908"


def test_dotted_paths_reach_nested_columns():
    row = {"a": {"b": {"c": 3}}, "x.y": 1}
    assert column(row, "a.b.c") == 3 and column(row, "x.y") == 1
    with pytest.raises(KeyError):
        column(row, "a.z")


def test_null_or_empty_answers_and_empty_prompts_are_errors_or_dropped(tmp_path, tokenizer):
    rows = ROWS[:5] + [{"prompt": "q", "answer": None}, {"prompt": "q2", "answer": " "}, {"prompt": "", "answer": "1"}]
    with pytest.raises(DataError) as err:
        load_data(recipe(tmp_path, rows), tokenizer)
    message = str(err.value)
    assert "data.train: 1 of 8 rows have empty prompt (rows 7)" in message
    assert "also 2 with no reference answer" in message and "data.invalid_rows=drop" in message
    reports = {}
    train, _ = load_data(recipe(tmp_path, rows, data={"invalid_rows": "drop"}), tokenizer, reports=reports)
    assert len(train) == 5
    assert reports["train"].dropped == {"empty prompt": 1, "no reference answer": 2}


def test_answers_are_only_required_when_a_verifier_reads_them(tmp_path, tokenizer):
    rows = [{"prompt": "q", "answer": None}] * 4
    train, _ = load_data(recipe(tmp_path, rows, rewards={"verifiers": [{"name": "format"}]}), tokenizer)
    assert len(train) == 4
    assert invalid_rows([{"prompt": [{"role": "user", "content": " "}]}], False) == {"empty prompt": [0]}


def test_a_trl_reward_function_needs_its_named_columns(tmp_path, tokenizer):
    plugin = tmp_path / "plugin.py"
    plugin.write_text("def accuracy(completions, solution, **kwargs):\n    return [0.0 for _ in completions]\n")
    r = recipe(tmp_path, ROWS, rewards={"verifiers": [{"name": f"{plugin}:accuracy"}]})
    assert verifier_needs(r) == {"accuracy": ("solution",)}
    with pytest.raises(DataError, match="the verifier 'accuracy' reads the column 'solution'"):
        load_data(r, tokenizer)


def test_prompts_over_the_limit(tmp_path, tokenizer):
    rows = ROWS[:6] + [{"prompt": "word " * 600, "answer": "1"}, {"prompt": "long " * 450, "answer": "2"}]
    with pytest.raises(DataError) as err:
        load_data(recipe(tmp_path, rows), tokenizer)
    message = str(err.value)
    assert "2 of 8 prompts are longer than rollout.max_prompt_tokens = 496" in message  # 512 - 16
    assert "(rows 6, 7; longest" in message and "data.overlong_prompts=drop or truncate" in message
    reports = {}
    train, _ = load_data(recipe(tmp_path, rows, data={"overlong_prompts": "drop"}), tokenizer, reports=reports)
    assert len(train) == 6 and reports["train"].dropped == {"prompt over rollout.max_prompt_tokens": 2}
    reports = {}
    train, _ = load_data(recipe(tmp_path, rows, data={"overlong_prompts": "truncate"}), tokenizer, reports=reports)
    assert len(train) == 8 and reports["train"].truncated == 2


def test_prompt_limit_defaults_to_the_context_and_may_not_exceed_it(tmp_path):
    assert with_prompt_limit(recipe_from_dict(minimal_recipe(tmp_path))).rollout.max_prompt_tokens == 512 - 16
    with pytest.raises(RecipeError, match="max_prompt_tokens \\+ rollout.max_completion_tokens = 500 \\+ 16 exceeds the model's context of 512"):
        with_prompt_limit(recipe_from_dict(minimal_recipe(tmp_path, rollout={"max_prompt_tokens": 500})))
    with pytest.raises(RecipeError, match="rollout.max_completion_tokens = 4096: the model's context is 512"):
        with_prompt_limit(recipe_from_dict(minimal_recipe(tmp_path, rollout={"max_completion_tokens": 4096})))


def test_test_prompts_also_in_train_are_counted_and_droppable(tmp_path, tokenizer, capsys):
    test_rows = [{"prompt": "What is  0 + 1?", "answer": "1"}, {"prompt": "new", "answer": "2"}]
    assert overlapping(ROWS, test_rows) == [0]  # whitespace-normalised
    _, test = load_data(recipe(tmp_path, ROWS, test_rows), tokenizer)
    assert len(test) == 2 and "warning: 1 test prompts also occur in data.train" in capsys.readouterr().out
    _, test = load_data(recipe(tmp_path, ROWS, test_rows, data={"drop_test_overlap": True}), tokenizer)
    assert [r["prompt"] for r in test] == ["new"]


def test_the_cli_says_it_in_one_line(tmp_path, capsys):
    from grpo.cli import main

    raw = minimal_recipe(tmp_path, data={"train": {"path": write_rows(tmp_path, [{"prompt": "q", "gt": "1"}] * 4)}})
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", str(tmp_path / "r.yaml"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data.answer_column = 'answer' is not a column") and err.count("\n") == 1
