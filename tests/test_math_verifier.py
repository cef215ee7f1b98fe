"""The math verifier against 183 hand-labelled answer pairs in the conventions of GSM8K, MATH and
AIME; agreement must stay >= 98%, and the known disagreements are exactly the listed ones."""

import threading


from rewards import Sample
from rewards.builtin.math import gold_answer, math_reward
from tests.data.math_answer_pairs import PAIRS

# (reference, completion): why the verifier and the label differ
KNOWN_DISAGREEMENTS = {
    ("\\ln 2", "\\boxed{\\log 2}"): "math-verify reads \\log as base 10; competition use is ambiguous",
}


def test_table_agreement():
    assert len(PAIRS) >= 150
    disagreements = []
    for source, reference, completion, expected in PAIRS:
        got = math_reward(Sample("p", completion, answer=reference)).value == 1.0
        if got != expected:
            disagreements.append((reference, completion))
    agreement = 1 - len(disagreements) / len(PAIRS)
    assert agreement >= 0.98, disagreements
    assert set(disagreements) == set(KNOWN_DISAGREEMENTS), disagreements


def test_gold_answer_forms():
    assert gold_answer("She has 3 + 4 = 7 apples.\n#### 7") == "7"
    assert gold_answer("so the area is $\\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}"
    assert gold_answer(" 42 ") == "42"


def test_works_off_the_main_thread():
    results = []
    thread = threading.Thread(target=lambda: results.append(math_reward(Sample("p", "\\boxed{0.5}", answer="\\frac12")).value))
    thread.start()
    thread.join(30)
    assert results == [1.0]


def test_no_answer_scores_zero_with_details():
    result = math_reward(Sample("p", "I don't know", answer="3"))
    assert result.value == 0.0 and result.details["extracted"] is None
