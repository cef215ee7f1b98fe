"""The code verifier: program extraction, dataset test formats, all-or-nothing vs fraction."""

import pytest

from rewards import Sample, VerifierError, build
from rewards.builtin.code import extract_program, suite_for

GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
HALF = "```python\ndef add(a, b):\n    return a + b if a else 0\n```"


def test_extract_program():
    assert extract_program("text\n```python\nx = 1\n```\nmore\n```py\ny = 2\n```") == "y = 2\n"
    assert extract_program("<answer>print(1)</answer>") == "print(1)"
    assert extract_program("print(2)") == "print(2)"


@pytest.fixture(scope="module")
def code_fraction():
    return build("code", {"mode": "fraction"})


def test_formats_and_modes(code_fraction):
    mbpp = {"test_list": ["assert add(1, 2) == 3", "assert add(0, 5) == 5"]}
    apps = {"input_output": '{"fn_name": "add", "inputs": [[1, 2], [0, 5]], "outputs": [[3], [5]]}'}
    ours = {"tests": {"type": "call", "function": "add", "cases": [[[1, 2], 3], [[0, 5], 5]]}}
    humaneval = {"test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 5) == 5\n", "entry_point": "add"}
    samples = [Sample("p", program, columns=columns) for columns in (mbpp, apps, ours, humaneval) for program in (GOOD, HALF)]
    values = [r.value for r in code_fraction(samples)]
    assert values == [1.0, 0.5] * 4
    all_or_nothing = build("code", {"mode": "all"})
    assert [r.value for r in all_or_nothing(samples[:2])] == [1.0, 0.0]


def test_missing_tests_raise():
    with pytest.raises(ValueError, match="needs test columns"):
        suite_for(Sample("p", GOOD, columns={}))


def test_bad_mode_is_a_configuration_error():
    with pytest.raises(VerifierError, match="code mode"):
        build("code", {"mode": "most"})
