"""Write 3-digit addition problems as verl / TinyZero parquet files, the layout verl's data
preprocessing scripts produce: `data_source`, `prompt` (chat messages), `ability`,
`reward_model: {style, ground_truth}`, `extra_info: {split, index}`.

    python examples/verl_format/build.py runs/verl_data      # then train with recipe.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from grpo.tasks.arithmetic import generate_arithmetic


def verl_rows(split: str, count: int) -> list[dict]:
    return [{
        "data_source": "arithmetic_3digit",
        "prompt": [{"role": "user", "content": row["prompt"]}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": row["answer"]},
        "extra_info": {"split": split, "index": index},
    } for index, row in enumerate(generate_arithmetic(split, count, digits=3))]


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", 4000), ("test", 200)):
        pq.write_table(pa.Table.from_pylist(verl_rows(split, count)), out / f"{split}.parquet")
    print(f"wrote {out}/train.parquet and {out}/test.parquet")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/verl_data")
