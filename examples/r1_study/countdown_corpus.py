"""The R1 study's Countdown base (docs/r1-reproduction.md, part 1): a corpus of search traces of
mixed quality, the problems' train/test files, and a small Qwen2 pre-trained on the corpus.

    python examples/r1_study/countdown_corpus.py --out runs/r1-study-base --device cuda   # GPU, minutes
    python examples/r1_study/countdown_corpus.py --out /tmp/b --examples 400 --epochs 1 --hidden 64 --layers 2

Why this corpus: R1-Zero's "aha" is the policy learning to check its work and try again. For
that to be possible from a base we pre-train ourselves, the base must (1) know how to evaluate
a candidate and compare it with the target, and (2) rarely do so. Every trace works a candidate
left to right ("3 + 5 = 8, 8 * 2 = 16"), which the countdown verifier can check:

- direct (1 - backtrack_share of the corpus): one candidate, answered without a check. It is a
  solution in `lucky_share` of them, so the base answers most problems wrong;
- search (backtrack_share): 1 to 3 wrong candidates, each followed by "16 != 20, wait, that
  fails.", then a solution ("20 = 20, it works."). Longer, always right.

Sampling from the base therefore sometimes searches, and searching pays: GRPO with a rule reward
only (answer right, format) should raise the share of traces with "wait", their length and the
accuracy (the targets are in the issue). Problems come from the built-in countdown task with
`chain: true, operators: "+-*"` (every target is reached by some left-to-right chain), train
split only; the recipe's test split is a disjoint hash bucket of the same task.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from grpo.data import R1_ZERO_TEMPLATE  # noqa: E402
from grpo.tasks.countdown import generate_countdown  # noqa: E402

EOS = "<|endoftext|>"
OPS = "+-*"  # division rarely gives whole steps with small numbers; kept out so chains stay exact
BACKTRACK = "wait, that fails."


def chain_steps(numbers: tuple[int, ...], ops: tuple[str, ...]) -> tuple[list[str], int]:
    """Left-to-right evaluation: (3, 5, 2), ('+', '*') -> (['3 + 5 = 8', '8 * 2 = 16'], 16)."""
    value, steps = numbers[0], []
    for op, number in zip(ops, numbers[1:]):
        new = {"+": value + number, "-": value - number, "*": value * number}[op]
        steps.append(f"{value} {op} {number} = {new}")
        value = new
    return steps, value


def chain_expression(numbers: tuple[int, ...], ops: tuple[str, ...]) -> str:
    """The chain as the expression the verifier reads: (3, 5, 2), ('+', '*') -> '(3 + 5) * 2'."""
    text = str(numbers[0])
    for i, (op, number) in enumerate(zip(ops, numbers[1:])):
        text = f"{text} {op} {number}"
        if i < len(ops) - 1:
            text = f"({text})"
    return text


def all_chains(numbers: list[int]) -> list[tuple[tuple[int, ...], tuple[str, ...], int]]:
    """Every order of the numbers with every choice of operators, and its value."""
    chains = []
    for order in sorted(set(itertools.permutations(numbers))):
        for ops in itertools.product(OPS, repeat=len(numbers) - 1):
            chains.append((order, ops, chain_steps(order, ops)[1]))
    return chains


# the trace's words in each language (part 2 mixes them); numbers and symbols are shared
PHRASES = {
    "en": {"try": "try", "fails": BACKTRACK, "works": "it works."},
    "ru": {"try": "пробуем", "fails": "стоп, не выходит.", "works": "получилось."},
}


def trace_parts(numbers: list[int], target: int, rng: random.Random, backtrack_share: float, lucky_share: float,
                second_language_share: float = 0.0) -> tuple[str, str] | None:
    """(thought, answer expression) of one trace, or None when no chain reaches the target. Each
    sentence of the thought is in Russian with probability `second_language_share`, so a search
    (several sentences) often mixes languages and a direct answer (one sentence) never does."""
    chains = all_chains(numbers)
    right = [c for c in chains if c[2] == target]
    wrong = [c for c in chains if c[2] != target]
    if not right or not wrong:
        return None

    def words() -> dict[str, str]:
        return PHRASES["ru" if second_language_share and rng.random() < second_language_share else "en"]

    def work(chain, say) -> str:
        return f"{say['try']} " + ", ".join(chain_steps(chain[0], chain[1])[0]) + "."

    if rng.random() < backtrack_share:
        parts = []
        for chain in [rng.choice(wrong) for _ in range(rng.randint(1, 3))]:
            say = words()
            parts.append(f"{work(chain, say)} {chain[2]} != {target}, {say['fails']}")
        final, say = rng.choice(right), words()
        parts.append(f"{work(final, say)} {target} = {target}, {say['works']}")
    else:
        final = rng.choice(right) if rng.random() < lucky_share else rng.choice(wrong)
        parts = [work(final, words())]
    return " ".join(parts), chain_expression(final[0], final[1])


def trace(numbers: list[int], target: int, rng: random.Random, backtrack_share: float, lucky_share: float,
          second_language_share: float = 0.0) -> str | None:
    """One completion (what follows 'Assistant:'), or None when no chain reaches the target."""
    parts = trace_parts(numbers, target, rng, backtrack_share, lucky_share, second_language_share)
    if parts is None:
        return None
    return f" <think> {parts[0]} </think> <answer> {parts[1]} </answer>"


def problems(split: str, count: int, num_numbers: int, max_number: int, max_target: int, seed: int = 0) -> list[dict]:
    """`count` problems of the countdown task's `split` whose targets come from left-to-right chains
    of + - * (the built-in task with chain=true: the recipe reads the same rows)."""
    rows = generate_countdown(split, num_samples=count, seed=seed, num_numbers=num_numbers, max_number=max_number,
                              max_target=max_target, operators=OPS, chain=True)
    return [{"prompt": r["prompt"], "answer": r["answer"], "numbers": r["numbers"], "target": r["target"]} for r in rows]


def build_corpus(rows: list[dict], seed: int, backtrack_share: float, lucky_share: float,
                 second_language_share: float = 0.0) -> list[str]:
    rng = random.Random(seed)
    corpus = []
    for row in rows:
        completion = trace(row["numbers"], row["target"], rng, backtrack_share, lucky_share, second_language_share)
        if completion is not None:
            corpus.append(R1_ZERO_TEMPLATE.format(prompt=row["prompt"]) + completion + EOS)
    return corpus


def cold_start_rows(rows: list[dict], seed: int) -> list[dict]:
    """R1's cold start (part 2): readable, single-language (English) searches that end right, as
    columns for an SFT stage (`completion_format: " <think> {thought} </think> <answer> {expression} </answer>"`)."""
    rng = random.Random(f"cold-start-{seed}")
    out = []
    for row in rows:
        parts = trace_parts(row["numbers"], row["target"], rng, backtrack_share=1.0, lucky_share=0.0)
        if parts is not None:
            out.append({**row, "thought": parts[0], "expression": parts[1]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out")
    parser.add_argument("--examples", type=int, default=60000, help="pre-training traces (train problems, drawn with replacement)")
    parser.add_argument("--problems", type=int, default=6000, help="distinct train problems the traces are drawn from")
    parser.add_argument("--numbers", type=int, default=3)
    parser.add_argument("--max-number", type=int, default=20)
    parser.add_argument("--max-target", type=int, default=100)
    parser.add_argument("--backtrack-share", type=float, default=0.1)
    parser.add_argument("--lucky-share", type=float, default=0.3)
    parser.add_argument("--second-language-share", type=float, default=0.0,
                        help="part 2: each sentence of a trace is Russian with this probability")
    parser.add_argument("--cold-start", type=int, default=300, help="part 2: English search traces in the cold-start file")
    parser.add_argument("--write-cold-start", metavar="PATH",
                        help="only write the cold-start file (part 2's SFT data, shipped as examples/r1_study/cold_start.jsonl)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--intermediate", type=int, default=1536)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from examples.tiny_base.build import train_base

    task = dict(num_numbers=args.numbers, max_number=args.max_number, max_target=args.max_target)
    pool = problems("train", args.problems, seed=args.seed, **task)
    if args.write_cold_start:
        rows = cold_start_rows(pool[: args.cold_start], args.seed)
        Path(args.write_cold_start).write_text("".join(json.dumps(row) + "\n" for row in rows))
        print(f"{len(rows)} cold-start traces written to {args.write_cold_start}")
        return
    if not args.out:
        parser.error("--out is required (unless --write-cold-start)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # pre-training draws train problems with replacement: each draw gets its own trace
    draw = random.Random(args.seed)
    pretraining = [draw.choice(pool) for _ in range(args.examples)]
    corpus = build_corpus(pretraining, args.seed, args.backtrack_share, args.lucky_share, args.second_language_share)
    searched = sum(any(p["fails"] in text for p in PHRASES.values()) for text in corpus) / len(corpus)
    mixed = sum(all(p["try"] + " " in text for p in PHRASES.values()) for text in corpus) / len(corpus)
    print(f"corpus: {len(corpus)} traces, {searched:.1%} with a backtrack, {mixed:.1%} mixing languages")
    train_base(corpus, out, args)


if __name__ == "__main__":
    main()
