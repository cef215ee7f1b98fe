"""Language mixing in part 2's chains of thought, per step window, from a run's logged samples:
the share of completions whose thought mixes English and Russian, the share written wholly in
Russian, and the mixing among completions that check a candidate.

Why beside the `reward/language` curve: that curve is the mean English share of the thought, and
on the bilingual base it sits near 0.7 whether a completion mixes or is wholly in one language
(30% of the base's sentences are Russian). R1-Zero's readability problem is the mixing inside one
chain of thought, and searching is what mixes (a direct answer is one sentence, one language).

    python examples/r1_study/mixing.py runs/r1-study-zero-bilingual-0 --windows 1-10,21-30,91-100
    python examples/r1_study/mixing.py runs/r1-study-pipeline/stages/reasoning_rl --windows 1-10,51-60
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.r1_study.faithfulness import sample_windows  # noqa: E402


def shares(records: list[dict]) -> dict[str, float]:
    """Shares of `records` (logged samples carrying the `language` and `self_check` scores): mixed
    (0 < English share < 1), wholly Russian (0), and mixed among the ones with a self-check."""
    scored = [r for r in records if r.get("scores", {}).get("language") is not None]
    checking = [r for r in scored if (r["scores"].get("self_check") or 0.0) > 0.0]

    def mixed(rows: list[dict]) -> float:
        return sum(0.0 < r["scores"]["language"] < 1.0 for r in rows) / len(rows) if rows else float("nan")

    return {"samples": len(scored), "mixed": mixed(scored),
            "russian": sum(r["scores"]["language"] == 0.0 for r in scored) / len(scored) if scored else float("nan"),
            "checking": len(checking), "mixed_when_checking": mixed(checking)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path, help="a run or pipeline-stage folder (its samples/ is read)")
    parser.add_argument("--windows", default="1-10,21-30,91-100")
    args = parser.parse_args()
    print("| steps | samples | thought mixes languages | thought wholly Russian | with a self-check | of those, mixing |")
    print("| --- | --- | --- | --- | --- | --- |")
    for window, records in sample_windows(args.run, args.windows):
        s = shares(records)
        print(f"| {window} | {s['samples']} | {s['mixed']:.2f} | {s['russian']:.2f} | {s['checking']} | "
              f"{s['mixed_when_checking']:.2f} |")


if __name__ == "__main__":
    main()
