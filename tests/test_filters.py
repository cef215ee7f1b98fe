"""Rejection-sampling filters: each one on hand-made samples, and the order reasons are counted in."""

import pytest

from grpo.config import GenerateConfig
from grpo.filters import Candidate, difficulty_bucket, jaccard, language_share, ngrams, repeated_share, select, thinking

GOOD = " <think> 1+2=3 </think> <answer> 3 </answer>"


def candidate(text=GOOD, index=0, tokens=12, truncated=False, answer=1.0, fmt=1.0):
    return Candidate(0, index, text, tokens, truncated, {"answer": answer, "format": fmt})


def settings(**kwargs):
    base = dict(near_duplicate_threshold=None, max_repeated_ngrams=None)
    return GenerateConfig(**{**base, **kwargs})


def test_every_named_verifier_must_accept():
    chosen = select([candidate(answer=0.0), candidate(fmt=0.0, index=1), candidate(index=2)], settings(), ["answer", "format"])
    assert [c.sample_index for c in chosen.kept] == [2]
    assert chosen.rejected["verifier"] == 2
    assert chosen.accepted_by == {"answer": 2, "format": 2}
    # a verifier that is not named does not gate
    assert len(select([candidate(fmt=0.0)], settings(), ["answer"]).kept) == 1


def test_threshold_and_none_scores():
    c = Candidate(0, 0, GOOD, 5, False, {"answer": None})
    assert select([c], settings(), ["answer"]).rejected["verifier"] == 1  # None is not acceptance
    assert len(select([candidate(answer=0.6)], settings(accept_threshold=0.5), ["answer"]).kept) == 1
    assert len(select([candidate(answer=0.6)], settings(accept_threshold=0.7), ["answer"]).kept) == 0


def test_truncated_and_length_bounds():
    samples = [candidate(truncated=True), candidate(tokens=2, index=1), candidate(tokens=500, index=2), candidate(index=3)]
    chosen = select(samples, settings(min_tokens=3, max_tokens=100), ["answer"])
    assert [c.sample_index for c in chosen.kept] == [3]
    assert (chosen.rejected["truncated"], chosen.rejected["too_short"], chosen.rejected["too_long"]) == (1, 1, 1)
    assert len(select([candidate(truncated=True)], settings(drop_truncated=False), ["answer"]).kept) == 1


def test_language_consistency_reads_the_chain_of_thought():
    mixed = " <think> so we add the 数字 两个 数字 相加 </think> <answer> 3 </answer>"
    assert thinking(mixed).strip().startswith("so we add")
    assert language_share(thinking(mixed), "en") == pytest.approx(4 / 12)  # 4 Latin words, 8 CJK characters
    chosen = select([candidate(mixed), candidate(index=1)], settings(min_language_consistency=0.9), ["answer"])
    assert [c.sample_index for c in chosen.kept] == [1] and chosen.rejected["language"] == 1


def test_repetition():
    loop = " <think> " + "add the digits " * 20 + "</think> <answer> 3 </answer>"
    assert repeated_share(loop, 3) > 0.8 and repeated_share("a b c d e f", 3) == 0.0
    assert ngrams("A b c", 2) == [("a", "b"), ("b", "c")]
    chosen = select([candidate(loop), candidate(index=1)], settings(max_repeated_ngrams=0.5, ngram_size=3), ["answer"])
    assert [c.sample_index for c in chosen.kept] == [1] and chosen.rejected["repetition"] == 1


def test_exact_and_near_duplicates_and_the_cap():
    near = GOOD.replace("1+2=3", "1+2 = 3")
    other = " <think> we write 1 plus 2 which gives 3 in total </think> <answer> 3 </answer>"
    samples = [candidate(GOOD), candidate("  " + GOOD, index=1), candidate(near, index=2), candidate(other, index=3)]
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    exact_only = select(samples, settings(), ["answer"])
    assert [c.sample_index for c in exact_only.kept] == [0, 2, 3] and exact_only.rejected["duplicate"] == 1
    near_too = select(samples, settings(near_duplicate_threshold=0.3, ngram_size=2), ["answer"])
    assert [c.sample_index for c in near_too.kept] == [0, 3] and near_too.rejected["near_duplicate"] == 1
    capped = select(samples, settings(max_per_prompt=1), ["answer"])
    assert len(capped.kept) == 1 and capped.rejected["per_prompt_cap"] == 2


def test_difficulty_buckets():
    assert [difficulty_bucket(p) for p in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)] == [
        "unsolved (0)", "hard (0-0.25)", "medium (0.25-0.5)", "easy (0.5-0.75)", "easiest (0.75-1]", "easiest (0.75-1]"]
