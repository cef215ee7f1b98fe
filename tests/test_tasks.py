"""Built-in task generators: deterministic, disjoint splits, correct references."""

import re

import pytest

from grpo.tasks import generate_arithmetic, generate_countdown
from grpo.tasks.arithmetic import addition_steps
from rewards.builtin.countdown import evaluate_expression


def test_arithmetic_deterministic_and_disjoint():
    a = generate_arithmetic("train", 500, seed=3)
    assert a == generate_arithmetic("train", 500, seed=3)
    assert a != generate_arithmetic("train", 500, seed=4)
    test = generate_arithmetic("test", 200, seed=3)
    train_keys = {r["prompt"] for r in generate_arithmetic("train", 5000, seed=9)}
    assert not train_keys & {r["prompt"] for r in test}
    for row in a + test:
        assert int(row["answer"]) == eval(f"{row['a']}{row['op']}{row['b']}")  # trusted generator output


def test_arithmetic_operators_and_errors():
    rows = generate_arithmetic("train", 50, digits=2, operators=["-", "*"])
    assert {r["op"] for r in rows} <= {"-", "*"} and all(int(r["answer"]) >= 0 for r in rows if r["op"] == "-")
    with pytest.raises(ValueError, match="operators"):
        generate_arithmetic("train", 5, operators=["^"])
    with pytest.raises(ValueError, match="ask for fewer"):
        generate_arithmetic("test", 100, digits=1)


def test_addition_steps_with_and_without_carry():
    assert addition_steps(478, 356) == "8+6=14, carry 1; 7+5+1=13, carry 1; 4+3+1=8. So the answer is 834"
    assert addition_steps(478, 356, carry=False).endswith("So the answer is 724")
    assert addition_steps(999, 1).endswith("1000")


def test_countdown_solvable_deterministic_disjoint():
    rows = generate_countdown("train", 300, seed=1)
    assert rows == generate_countdown("train", 300, seed=1)
    test = generate_countdown("test", 100, seed=1)
    key = lambda r: (tuple(sorted(r["numbers"])), r["target"])
    assert not {key(r) for r in rows} & {key(r) for r in test}
    for row in rows + test:
        expression = row["solution"].split("=")[0]
        value, used = evaluate_expression(expression)
        assert value == row["target"] and sorted(used) == sorted(row["numbers"])
        assert 1 <= row["target"] <= 100


def test_countdown_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_numbers"):
        generate_countdown("train", 5, num_numbers=9)
    with pytest.raises(ValueError, match="split"):
        generate_countdown("dev", 5)


def test_countdown_chain_targets_come_from_left_to_right_chains():
    rows = generate_countdown("train", 200, seed=2, num_numbers=3, max_number=20, operators="+-*", chain=True)
    for row in rows:
        expression = row["solution"].split("=")[0].strip()
        # "(a op b) op c": one bracket pair around the first two numbers, no other nesting
        assert re.fullmatch(r"\(\d+ [-+*] \d+\) [-+*] \d+", expression), expression
        value, used = evaluate_expression(expression)
        assert value == row["target"] and sorted(used) == sorted(row["numbers"])
    assert {r["prompt"] for r in rows}.isdisjoint(
        r["prompt"] for r in generate_countdown("test", 100, seed=2, num_numbers=3, max_number=20, operators="+-*", chain=True))
    with pytest.raises(ValueError, match="operators"):
        generate_countdown("train", 5, operators="+^")
