"""The shipped cold-start traces of the tool quickstart are exactly what their script builds."""

from __future__ import annotations

import importlib.util
import json
import re

from tests.conftest import ROOT

FOLDER = ROOT / "examples" / "tool_quickstart"


def _builder():
    spec = importlib.util.spec_from_file_location("build_cold_start", FOLDER / "build_cold_start.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_file_matches_the_script():
    rows = [json.loads(line) for line in (FOLDER / "cold_start.jsonl").read_text().splitlines()]
    assert rows == _builder().traces()


def test_tool_traces_are_right_and_half_of_them():
    rows = _builder().traces()
    tool = [r for r in rows if "<python>" in r["completion"]]
    assert len(tool) == len(rows) // 2
    for row in tool:
        a, b = map(int, re.search(r"<python>(\d+)\*(\d+)</python>", row["completion"]).groups())
        assert str(a * b) == row["answer"] and f"<output>\n{a * b}\n</output>" in row["completion"]
