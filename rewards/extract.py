"""Pulling the final answer out of a completion: <answer> tags, \\boxed{}, "the answer is"."""

from __future__ import annotations

import re

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_ANSWER_IS = re.compile(r"(?:final answer|the answer)\s*(?:is|:)\s*(.+?)(?:\.\s|\.$|\n|$)", re.IGNORECASE)


def answer_tag(text: str) -> str | None:
    """Content of the last complete <answer>...</answer>, stripped; None when there is none."""
    found = _ANSWER_TAG.findall(text)
    return found[-1].strip() if found else None


def boxed(text: str) -> str | None:
    r"""Content of the last \boxed{...} (or \fbox{...}), braces balanced; None when absent."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    open_at = text.find("{", start)
    if open_at < 0:
        rest = text[start + len("\\boxed") :].strip()  # "\boxed 5" form
        return rest.split()[0] if rest else None
    depth = 0
    for index in range(open_at, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : index].strip()
    return None


def answer_is(text: str) -> str | None:
    """The phrase after the last "the answer is" / "final answer:"."""
    found = _ANSWER_IS.findall(text)
    return found[-1].strip().rstrip(".") if found else None


def final_answer(text: str, sources: tuple[str, ...] = ("answer_tag", "boxed", "answer_is")) -> tuple[str | None, str | None]:
    """(answer, where it came from), trying `sources` in order: an <answer> holding \\boxed{} yields the box."""
    for source in sources:
        found = {"answer_tag": answer_tag, "boxed": boxed, "answer_is": answer_is}[source](text)
        if found is not None:
            inner = boxed(found) if source == "answer_tag" else None
            return (inner if inner is not None else found), source
    return None, None
