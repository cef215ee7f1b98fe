"""The shipped cold-start traces of the tool quickstart are exactly what their script builds."""

from __future__ import annotations

import json
import re

from tests.conftest import ROOT, load_module

FOLDER = ROOT / "examples" / "tool_quickstart"


def test_shipped_file_matches_the_script():
    rows = [json.loads(line) for line in (FOLDER / "cold_start.jsonl").read_text().splitlines()]
    assert rows == load_module(FOLDER / "build_cold_start.py").traces()


def test_tool_traces_are_right_and_half_of_them():
    rows = load_module(FOLDER / "build_cold_start.py").traces()
    tool = [r for r in rows if "<python>" in r["completion"]]
    assert len(tool) == len(rows) // 2
    for row in tool:
        a, b = map(int, re.search(r"<python>(\d+)\*(\d+)</python>", row["completion"]).groups())
        assert str(a * b) == row["answer"] and f"<output>\n{a * b}\n</output>" in row["completion"]
