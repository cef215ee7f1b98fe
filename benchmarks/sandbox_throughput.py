"""Sandboxed runs per second on this machine, and the overhead against a bare subprocess.

    python benchmarks/sandbox_throughput.py [--runs 400] [--workers 2]

trivial: one function returning its argument, one call test.
typical: an MBPP-sized solution (sorting, a loop, a dict) with 5 assert tests.
stdio:   a competitive-programming style script reading stdin, 1 case per run.
bare subprocess: `python -c pass` started and waited for, no isolation, no tests (the floor a
  naive sandbox pays per run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandboxes import CallCases, SandboxPool, StdioCases, isolation_report, mbpp  # noqa: E402

TRIVIAL = ("def f(x):\n    return x", CallCases("f", [((1,), 1)]))
TYPICAL = ("def top_k_words(text, k):\n    counts = {}\n    for word in text.lower().split():\n"
           "        counts[word] = counts.get(word, 0) + 1\n    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))\n"
           "    return [w for w, _ in ranked[:k]]\n",
           mbpp(["assert top_k_words('a b a c b a', 2) == ['a', 'b']", "assert top_k_words('x', 1) == ['x']",
                 "assert top_k_words('', 3) == []", "assert top_k_words('B b a', 1) == ['b']",
                 "assert top_k_words(' '.join(str(i % 50) for i in range(5000)), 3) == ['0', '1', '10']"]))
STDIO = ("import sys\nnums = list(map(int, sys.stdin.read().split()))\nprint(sum(sorted(nums)[-3:]))",
         StdioCases([("5 1 9 3 7 2\n", "21")]))


def rate(pool: SandboxPool, job: tuple, runs: int) -> float:
    pool.map([job] * 4)  # warm
    started = time.perf_counter()
    results = pool.map([job] * runs)
    elapsed = time.perf_counter() - started
    assert all(r.passed for r in results), results[0]
    return runs / elapsed


def bare_subprocess_rate(runs: int, workers: int) -> float:
    def one(_: int) -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as executor:
        list(executor.map(one, range(runs)))
    return runs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = {}
    with SandboxPool(workers=args.workers) as pool:
        for name, job in (("trivial", TRIVIAL), ("typical (5 asserts)", TYPICAL), ("stdio script", STDIO)):
            rows[name] = rate(pool, job, args.runs)
        single = SandboxPool(workers=1)
        latency = 1000 / rate(single, TRIVIAL, args.runs // 4)
        single.close()
    rows["bare subprocess (python -c pass)"] = bare_subprocess_rate(args.runs // 2, args.workers)
    print(f"isolation: {isolation_report()}")
    print(f"{'program':<34} runs/s ({args.workers} workers)")
    for name, value in rows.items():
        print(f"{name:<34} {value:>8.0f}")
    print(f"one trivial sandboxed run, one worker: {latency:.1f} ms; a bare `python -c pass`: "
          f"{1000 * args.workers / rows['bare subprocess (python -c pass)']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({**rows, "trivial_latency_ms": latency}, indent=2))


if __name__ == "__main__":
    main()
