"""Write cold_start.jsonl: the tool quickstart's cold-start traces (shipped; this script rebuilds it).

3-digit multiplication is beyond the tiny base model in its head, but trivial for Python. Half
of the traces call the tool (`<python>a*b</python>`, then the output it printed, then the
answer); the rest write a product "in the head". The base's pre-training pulls hard toward
writing digits after <think>, so after this cold start the model samples a well-formed tool call
about a fifth of the time and is mostly wrong; RL has to find out that the tool pays.

    python examples/tool_quickstart/build_cold_start.py   # rewrites cold_start.jsonl
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from grpo.tasks.arithmetic import generate_arithmetic

TOOL = " <think> <python>{a}*{b}</python><output>\n{answer}\n</output> </think> <answer> {answer} </answer>"
HEAD = " <think> {a}*{b}={answer} </think> <answer> {answer} </answer>"


def traces(count: int = 1024, tool_share: float = 0.5, seed: int = 7) -> list[dict]:
    rows = generate_arithmetic("train", count, seed=seed, digits=3, operators=["*"])
    rng = random.Random(seed)
    tool_rows = set(rng.sample(range(count), round(count * tool_share)))
    return [{"prompt": row["prompt"], "answer": row["answer"],
             "completion": (TOOL if index in tool_rows else HEAD).format(**row)} for index, row in enumerate(rows)]


def main() -> None:
    path = Path(__file__).with_name("cold_start.jsonl")
    path.write_text("".join(json.dumps(row) + "\n" for row in traces()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
