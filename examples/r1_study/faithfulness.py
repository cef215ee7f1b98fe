"""Does the thought support the answer? Over the logged samples of part 1's runs, per step window:
the share of completions that declare "N = N, it works." for an N that is not the target (a false
success claim), how many correct answers come after a thought whose last computed chain does not
reach the target (the answer line drifted away from the reasoning), and the share of the thought's
arithmetic steps ("a * b = c") that are right: a base that miscomputes cannot check its candidates.

    python examples/r1_study/faithfulness.py runs/r1-study-zero-0 --windows 1-10,21-30,91-100
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.r1_study.arithmetic_check import TARGET, steps_right  # noqa: E402

CLAIM = re.compile(r"(-?\d+) = (-?\d+), it works")
CHAIN_RESULT = re.compile(r"-?\d+ [-+*] -?\d+ = (-?\d+)")


def arithmetic(record: dict) -> tuple[int, int]:
    """(right, all) arithmetic steps written in the thought."""
    return steps_right(record["completion"].split("</think>")[0])


def judge(record: dict) -> tuple[bool, bool, bool]:
    """(false success claim, correct answer, correct answer without a chain reaching the target)."""
    target = int(TARGET.search(record["prompt"]).group(1))
    thought = record["completion"].split("</think>")[0]
    claims = CLAIM.findall(thought)
    chains = CHAIN_RESULT.findall(thought)
    correct = record.get("scores", {}).get("countdown") == 1.0
    false_claim = bool(claims) and int(claims[-1][0]) != target
    return false_claim, correct, correct and (not chains or int(chains[-1]) != target)


def sample_windows(run: Path, windows: str) -> Iterator[tuple[str, list[dict]]]:
    """("1-10", the logged samples of steps 1..10) for each window of "1-10,21-30" that has any:
    the sample archives (`samples/step_N.jsonl`) are all these scripts can read after a GPU call."""
    for window in windows.split(","):
        low, high = map(int, window.split("-"))
        records = [json.loads(line) for step in range(low, high + 1)
                   for path in [run / "samples" / f"step_{step:06d}.jsonl"] if path.exists()
                   for line in path.read_text().splitlines() if line.strip()]
        if records:
            yield window, records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path, help="a run folder (its samples/ is read)")
    parser.add_argument("--windows", default="1-10,21-30,91-100")
    args = parser.parse_args()
    print("| steps | samples | false 'it works' claims | correct answers | of which the thought does not reach the target "
          "| arithmetic steps right |")
    print("| --- | --- | --- | --- | --- | --- |")
    for window, records in sample_windows(args.run, args.windows):
        verdicts = [judge(r) for r in records]
        false_claims, correct, drifted = (sum(v[i] for v in verdicts) for i in range(3))
        right, written = (sum(a[i] for a in map(arithmetic, records)) for i in range(2))
        print(f"| {window} | {len(records)} | {false_claims / len(records):.2f} | {correct} | {drifted} | "
              f"{right / max(written, 1):.2f} of {written} |")


if __name__ == "__main__":
    main()
