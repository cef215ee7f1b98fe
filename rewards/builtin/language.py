"""Language consistency (DeepSeek-R1, Sec. 2.3.2): the share of the chain of thought written in
the target language, which R1 added as a reward to stop it mixing languages in its reasoning.

Words are classified by Unicode script: a run of letters of one script is a word, and each CJK
character counts as one word (Chinese and Japanese have no spaces). Digits, punctuation and LaTeX
commands are neutral.
"""

from __future__ import annotations

import re
import unicodedata

from rewards.base import Sample, VerifierResult
from rewards.registry import register

# target language -> Unicode script names (the first word of unicodedata.name) that count for it
SCRIPTS = {
    "en": {"LATIN"}, "fr": {"LATIN"}, "de": {"LATIN"}, "es": {"LATIN"},
    "zh": {"CJK"}, "ja": {"CJK", "HIRAGANA", "KATAKANA"}, "ko": {"HANGUL"},
    "ru": {"CYRILLIC"}, "ar": {"ARABIC"}, "hi": {"DEVANAGARI"}, "el": {"GREEK"},
}
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_IDEOGRAPHIC = {"CJK", "HIRAGANA", "KATAKANA"}


def _script(char: str) -> str:
    try:
        return unicodedata.name(char).split(" ")[0]
    except ValueError:
        return "UNKNOWN"


def words_by_script(text: str) -> list[str]:
    """The script of every word of `text`, in order."""
    scripts, current = [], None
    for char in _LATEX_COMMAND.sub(" ", text):
        if not char.isalpha():
            current = None
            continue
        script = _script(char)
        if script in _IDEOGRAPHIC or script != current:
            scripts.append(script)
        current = None if script in _IDEOGRAPHIC else script
    return scripts


@register("language")
def language_reward(sample: Sample, language: str = "en", scope: str = "think") -> VerifierResult:
    """Share of words in `language`'s script; scope 'think' reads the <think> block (the whole
    completion when there is none), 'all' the whole completion. No words at all: None (n/a)."""
    if language not in SCRIPTS:
        raise ValueError(f"language must be one of {sorted(SCRIPTS)}, got {language!r}")
    text = sample.completion
    if scope == "think":
        found = _THINK.search(text)
        text = found.group(1) if found else text
    scripts = words_by_script(text)
    if not scripts:
        return VerifierResult(None, {"words": 0})
    share = sum(s in SCRIPTS[language] for s in scripts) / len(scripts)
    return VerifierResult(share, {"words": len(scripts)})
