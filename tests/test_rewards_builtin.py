"""Built-in verifiers on hand-written cases, hostile inputs included."""

import pytest

from rewards import Sample, build
from rewards.extract import answer_is, answer_tag, boxed, final_answer


def score(name, completion, answer=None, kwargs=None, **columns):
    tokens, limit = columns.pop("tokens", 0), columns.pop("limit", 0)
    sample = Sample("p", completion, answer=answer, columns=columns, completion_tokens=tokens, max_completion_tokens=limit)
    return build(name, kwargs or {})([sample])[0]


def test_extraction():
    assert answer_tag("<answer>1</answer> then <answer> 2 </answer>") == "2"
    assert answer_tag("<answer>unclosed") is None
    assert boxed(r"so \boxed{\frac{1}{2}} and") == r"\frac{1}{2}"
    assert boxed(r"\boxed{a{b}c}") == "a{b}c"
    assert answer_is("Thus the answer is 42.") == "42"
    assert final_answer(r"<answer>\boxed{7}</answer>") == ("7", "answer_tag")


@pytest.mark.parametrize("text,strict,partial", [
    ("<think> a </think> <answer> 1 </answer>", 1.0, 1.0),
    ("  <think>a</think>\n<answer>1</answer>\n", 1.0, 1.0),
    ("<think> a </think> <answer> 1 </answer> extra", 0.0, 0.75),
    ("<answer> 1 </answer> <think> a </think>", 0.0, 0.5),
    ("<think> a <think> b </think> <answer> 1 </answer>", 0.0, 0.75),
    ("just text", 0.0, 0.0),
])
def test_format_strict_and_partial(text, strict, partial):
    assert score("format", text).value == strict
    assert score("format", text, kwargs={"mode": "partial"}).value == partial


def test_format_with_prefilled_think():
    assert score("format", " a </think> <answer> 1 </answer>", kwargs={"think_prefilled": True}).value == 1.0


@pytest.mark.parametrize("completion,expected", [
    ("<answer>(3 + 5) * 2</answer>", 1.0),
    ("<answer>2 * (5 + 3) = 16</answer>", 1.0),
    ("<answer>3 * 5 + 2</answer>", 0.0),          # 17
    ("<answer>(3 + 5) * 2 * 1</answer>", 0.0),    # uses 1, not given
    ("<answer>(3 + 3) * 2</answer>", 0.0),        # 3 twice, 5 unused
    ("<answer>16</answer>", 0.0),                 # no numbers used
    ("<answer>__import__('os').system('x')</answer>", 0.0),
    ("<answer>(3 + 5) ** 2</answer>", 0.0),       # power is not an allowed operator
    ("<answer>3 / (5 - 5) + 2</answer>", 0.0),
    ("<answer>-3 + 5 * 2 + 9</answer>", 0.0),
    ("no answer", 0.0),
    ("<answer>" + "(" * 300 + "</answer>", 0.0),
])
def test_countdown(completion, expected):
    assert score("countdown", completion, numbers=[3, 5, 2], target=16).value == expected


def test_countdown_exact_fractions():
    assert score("countdown", "<answer>(1 / 3) * 6 + 4</answer>", numbers=[1, 3, 6, 4], target=6).value == 1.0


def test_countdown_malformed_number_is_wrong_without_a_warning():
    """"3and 5" is what a small model writes; Python warns while parsing it (seen printed by every
    reward worker of a GPU run), and the verifier must score it 0 quietly."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = score("countdown", "<answer>3and 5 * 2</answer>", numbers=[3, 5, 2], target=16)
    assert result.value == 0.0
    assert [str(w.message) for w in caught] == []


def test_answer_numbers_and_text():
    assert score("answer", "<answer>1,234</answer>", "1234").value == 1.0
    assert score("answer", "<answer>12.0</answer>", "12").value == 1.0
    assert score("answer", "<answer>Paris </answer>", "Paris").value == 1.0
    assert score("answer", "<answer>13</answer>", "12").value == 0.0
    assert score("answer", "12", "12").value == 0.0  # no tag, no credit


def test_language_share():
    assert score("language", "<think>we add the two numbers</think><answer>3</answer>").value == 1.0
    assert score("language", "<think>我们 add</think>", kwargs={"language": "zh"}).value == pytest.approx(2 / 3)
    assert score("language", "<think>1 + 2 = 3</think>").value is None
    with pytest.raises(ValueError, match="language must be one of"):
        score("language", "x", kwargs={"language": "xx"})


@pytest.mark.parametrize("tokens,expected", [(100, 0.0), (768, 0.0), (896, -0.5), (1024, -1.0), (1100, -1.0)])
def test_overlong_dapo(tokens, expected):
    # L_max = 1024, buffer 256: penalty ramps from 0 at 768 to -1 at 1024
    assert score("overlong", "x", kwargs={"buffer": 256}, tokens=tokens, limit=1024).value == pytest.approx(expected)


def test_repetition_penalty():
    assert score("repetition", "a b c d e f").value == 0.0
    looped = score("repetition", "go on " * 20, kwargs={"ngram_size": 2, "max_penalty": -1.0}).value
    # 39 bigrams, 2 distinct: penalty -(1 - 2/39)
    assert looped == pytest.approx(-(1 - 2 / 39))
