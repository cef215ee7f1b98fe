"""Rejection-sampling filters (pure): which sampled traces a `generate` stage keeps, and why the
others were dropped.

DeepSeek-R1 (Sec. 2.3.3) keeps, from many samples per prompt, only correct ones, and filters out
"chain-of-thought with mixed languages, long paragraphs, and code blocks"; reproductions add
length bounds, repetition and (near-)duplicate removal. Each filter here is a small function of
text, and `select` applies them in a fixed order, counting the first reason each sample fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grpo.config import GenerateConfig
from rewards.builtin.language import SCRIPTS, words_by_script

# the order in which reasons are checked; a sample is counted under the first it fails
REASONS = ("verifier", "truncated", "too_short", "too_long", "language", "repetition", "duplicate",
           "near_duplicate", "per_prompt_cap")


@dataclass(frozen=True)
class Candidate:
    """One sampled completion of one prompt, with what the filters read."""

    prompt_index: int
    sample_index: int
    text: str
    tokens: int
    truncated: bool
    scores: dict[str, float | None]  # verifier label -> score


@dataclass
class Selection:
    kept: list[Candidate] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=lambda: {reason: 0 for reason in REASONS})
    accepted_by: dict[str, int] = field(default_factory=dict)  # verifier label -> samples it accepted

    def add(self, other: "Selection") -> None:
        self.kept += other.kept
        for reason, count in other.rejected.items():
            self.rejected[reason] = self.rejected.get(reason, 0) + count
        for label, count in other.accepted_by.items():
            self.accepted_by[label] = self.accepted_by.get(label, 0) + count


def language_share(text: str, language: str) -> float | None:
    """Share of the words of `text` in `language`'s script (None: no words)."""
    scripts = words_by_script(text)
    return sum(s in SCRIPTS[language] for s in scripts) / len(scripts) if scripts else None


def thinking(text: str) -> str:
    """The chain of thought: the <think> block when there is one, else the whole text."""
    start = text.find("<think>")
    if start < 0:
        return text
    end = text.find("</think>", start)
    return text[start + len("<think>") : end if end >= 0 else len(text)]


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = text.lower().split()
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def repeated_share(text: str, n: int) -> float:
    """1 - distinct n-grams / n-grams: 0 for text that never repeats itself, near 1 for a loop."""
    grams = ngrams(text, n)
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def select(candidates: list[Candidate], settings: GenerateConfig, accept: list[str]) -> Selection:
    """The candidates of ONE prompt that pass every filter, in sample order, and the counts of
    the rest by first failing reason. Duplicates are judged against samples already kept."""
    result = Selection(accepted_by={label: 0 for label in accept})
    kept_texts: set[str] = set()
    kept_shingles: list[set] = []
    for candidate in candidates:
        for label in accept:
            if (candidate.scores.get(label) or 0.0) >= settings.accept_threshold:
                result.accepted_by[label] += 1
        reason = _first_failure(candidate, settings, accept)
        normalised = " ".join(candidate.text.split())
        if reason is None and normalised in kept_texts:
            reason = "duplicate"
        shingles = set(ngrams(candidate.text, settings.ngram_size)) if settings.near_duplicate_threshold else set()
        if reason is None and settings.near_duplicate_threshold and shingles and any(
                jaccard(shingles, other) >= settings.near_duplicate_threshold for other in kept_shingles):
            reason = "near_duplicate"
        if reason is None and settings.max_per_prompt is not None and len(result.kept) >= settings.max_per_prompt:
            reason = "per_prompt_cap"
        if reason is not None:
            result.rejected[reason] += 1
            continue
        result.kept.append(candidate)
        kept_texts.add(normalised)
        kept_shingles.append(shingles)
    return result


def _first_failure(candidate: Candidate, settings: GenerateConfig, accept: list[str]) -> str | None:
    if any((candidate.scores.get(label) or 0.0) < settings.accept_threshold for label in accept):
        return "verifier"
    if settings.drop_truncated and candidate.truncated:
        return "truncated"
    if candidate.tokens < settings.min_tokens:
        return "too_short"
    if settings.max_tokens is not None and candidate.tokens > settings.max_tokens:
        return "too_long"
    if settings.min_language_consistency is not None:
        share = language_share(thinking(candidate.text), settings.language)
        if share is not None and share < settings.min_language_consistency:
            return "language"
    if settings.max_repeated_ngrams is not None and repeated_share(candidate.text, settings.ngram_size) > settings.max_repeated_ngrams:
        return "repetition"
    return None


def difficulty_bucket(pass_rate: float) -> str:
    """A prompt's difficulty from the share of its samples the correctness verifier accepted."""
    if pass_rate == 0.0:
        return "unsolved (0)"
    if pass_rate < 0.25:
        return "hard (0-0.25)"
    if pass_rate < 0.5:
        return "medium (0.25-0.5)"
    if pass_rate < 0.75:
        return "easy (0.5-0.75)"
    return "easiest (0.75-1]"
