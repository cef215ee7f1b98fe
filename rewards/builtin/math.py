"""Math answer equivalence through math-verify (which parses LaTeX and plain text into SymPy).

Extraction of the model's final answer is ours (<answer> tags, \\boxed{}, "the answer is"), so
every verifier agrees on what "the answer" is; math-verify decides equivalence: integers,
decimals, fractions, percentages, scientific notation, expressions, equations, intervals, sets,
tuples and matrices.

Timeouts: math-verify guards parsing and comparison with signal.alarm, which raises outside the
main thread. We use its timeouts only in the main thread (our verifier child process runs there)
and elsewhere rely on the caller's process-level timeout (rewards/runner.py).
"""

from __future__ import annotations

import re
import threading

from rewards.base import Sample, VerifierResult, verifier
from rewards.extract import boxed, final_answer
from rewards.registry import register

_THOUSANDS = re.compile(r"^-?\$?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER_WITH_WORDS = re.compile(r"^(-?\$?[\d,]*\.?\d+)\s+[A-Za-z][A-Za-z .]*$")  # "25 dollars"
_E_NOTATION = re.compile(r"^(-?\d+(?:\.\d+)?)[eE]([+-]?\d+)$")  # "1.5e-3": e is not Euler's number here
_REPEATING = re.compile(r"^(-?)(\d*)\.(\d*)\\overline\{(\d+)\}$")  # 0.1\overline{6}
_GSM8K_MARK = "####"


def gold_answer(reference: str) -> str:
    """The final answer inside a reference solution: after GSM8K's '####', a MATH \\boxed{}, or as is."""
    text = str(reference).strip()
    if _GSM8K_MARK in text:
        return text.rsplit(_GSM8K_MARK, 1)[1].strip()
    inner = boxed(text)
    return inner if inner is not None else text


def _repeating_to_fraction(match: re.Match[str]) -> str:
    """0.1\\overline{6} -> \\frac{15}{90}: (whole digits with one period - without) / (10^k (10^p - 1))."""
    sign, whole, fixed, period = match.groups()
    numerator = int(f"{whole or 0}{fixed}{period}") - int(f"{whole or 0}{fixed}")
    denominator = 10 ** len(fixed) * (10 ** len(period) - 1)
    return f"{sign}\\frac{{{numerator}}}{{{denominator}}}"


def _for_parser(answer: str) -> str:
    """Answer text as math-verify reads it best: inside \\boxed{}, with the plain-text habits it
    misreads normalised: thousands separators ('1,234' is not the tuple (1, 234)), trailing unit
    words ('25 dollars'), e-notation ('1.5e-3'), repeating decimals (0.\\overline{3})."""
    text = answer.strip().strip("$").strip()
    words = _NUMBER_WITH_WORDS.match(text)
    if words:
        text = words.group(1)
    exponent = _E_NOTATION.match(text)
    if exponent:
        text = f"{exponent.group(1)}\\times 10^{{{int(exponent.group(2))}}}"
    text = _REPEATING.sub(_repeating_to_fraction, text)
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    text = text.replace("\\$", "").replace("$", "")
    return f"\\boxed{{{text}}}"


def _timeout(seconds: int) -> int | None:
    return seconds if threading.current_thread() is threading.main_thread() else None


def equivalent(gold: str, predicted: str, *, timeout_seconds: int = 5) -> tuple[bool, str, str]:
    """(equal?, gold as parsed, prediction as parsed)."""
    from math_verify import parse, verify

    timeout = _timeout(timeout_seconds)
    gold_parsed = parse(_for_parser(gold), parsing_timeout=timeout)
    predicted_parsed = parse(_for_parser(predicted), parsing_timeout=timeout)
    if not gold_parsed or not predicted_parsed:
        same = " ".join(gold.split()) == " ".join(predicted.split())
        return same, str(gold_parsed), str(predicted_parsed)
    ok = verify(gold_parsed, predicted_parsed, timeout_seconds=timeout)
    return bool(ok), str(gold_parsed[0]), str(predicted_parsed[0])


@register("math")
@verifier(needs=("answer",))
def math_reward(
    sample: Sample,
    sources: tuple[str, ...] | list[str] = ("answer_tag", "boxed", "answer_is"),
    timeout_seconds: int = 5,
) -> VerifierResult:
    """1.0 when the final answer is mathematically equal to the reference answer, else 0.0."""
    extracted, source = final_answer(sample.completion, tuple(sources))
    gold = gold_answer(str(sample.answer))
    if extracted is None:
        return VerifierResult(0.0, {"extracted": None, "gold": gold})
    ok, gold_parsed, predicted_parsed = equivalent(gold, extracted, timeout_seconds=timeout_seconds)
    return VerifierResult(float(ok), {"extracted": extracted, "source": source, "gold": gold,
                                      "parsed": predicted_parsed, "gold_parsed": gold_parsed})
