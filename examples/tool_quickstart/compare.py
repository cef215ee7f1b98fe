"""Table of the tool quickstart with and without the tool, from two finished runs.

    grpo train recipes/tool-quickstart.yaml
    grpo train recipes/tool-quickstart.yaml env.name=null name=tool-quickstart-no-tool
    python examples/tool_quickstart/compare.py runs/tool-quickstart runs/tool-quickstart-no-tool
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpo.logging import read_metrics


def rows(run: Path) -> tuple[dict[int, dict], dict[int, dict]]:
    metrics = read_metrics(run / "stages" / "rl")
    train = {m["step"]: m for m in metrics if "reward/mean" in m}
    evals = {m["step"]: m for m in metrics if "eval/accuracy" in m}
    return train, evals


def main(with_tool: str, without_tool: str) -> None:
    (train_a, eval_a), (train_b, eval_b) = rows(Path(with_tool)), rows(Path(without_tool))
    print("| RL step | test accuracy, tool | test accuracy, no tool | test tool-use rate | sampled tool-use rate "
          "| train accuracy, tool | train accuracy, no tool |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for step in sorted(set(train_a) | set(eval_a)):
        if step not in eval_a and step not in (1, 5, 15):
            continue
        ea, eb = eval_a.get(step, {}), eval_b.get(step, {})
        ta, tb = train_a.get(step, {}), train_b.get(step, {})

        def cell(record: dict, key: str) -> str:
            return f"{record[key]:.2f}" if key in record else ""

        print(f"| {step} | {cell(ea, 'eval/accuracy')} | {cell(eb, 'eval/accuracy')} | {cell(ea, 'eval/episode/tool_use_rate')} "
              f"| {cell(ta, 'episode/tool_use_rate')} "
              f"| {cell(ta, 'accuracy')} | {cell(tb, 'accuracy')} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
