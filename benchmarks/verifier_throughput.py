"""Math verifications per second: in process, through one reward worker's child process, and
through N Ray reward workers in parallel (the training path).

    python benchmarks/verifier_throughput.py [--samples 2000] [--workers 2]

Samples are the 183 hand-labelled pairs of tests/data/math_answer_pairs.py, repeated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rewards import Sample  # noqa: E402
from rewards.builtin.math import math_reward  # noqa: E402
from tests.data.math_answer_pairs import PAIRS  # noqa: E402


def samples(count: int) -> list[Sample]:
    return [Sample("p", PAIRS[i % len(PAIRS)][2], answer=PAIRS[i % len(PAIRS)][1]) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    batch = samples(args.samples)
    rows = {}

    started = time.perf_counter()
    for sample in batch:
        math_reward(sample)
    rows["in process, 1 core"] = args.samples / (time.perf_counter() - started)

    from rewards.worker import RewardWorker

    worker = RewardWorker([{"name": "math"}])
    started = time.perf_counter()
    worker.score(batch)
    rows["1 reward worker (child process)"] = args.samples / (time.perf_counter() - started)

    import ray

    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR")
    actors = [ray.remote(RewardWorker).options(num_cpus=1).remote([{"name": "math"}]) for _ in range(args.workers)]
    ray.get([a.score.remote(batch[:8]) for a in actors])  # warm: imports done
    share = len(batch) // args.workers
    started = time.perf_counter()
    ray.get([a.score.remote(batch[i * share : (i + 1) * share]) for i, a in enumerate(actors)])
    rows[f"{args.workers} Ray reward workers"] = share * args.workers / (time.perf_counter() - started)
    ray.shutdown()

    print(f"{'path':<34} verifications/s")
    for name, rate in rows.items():
        print(f"{name:<34} {rate:>10.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
