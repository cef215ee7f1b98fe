"""The R1 study's Countdown corpus and its self-check monitor (examples/r1_study/): the traces'
arithmetic, which ones verify, how many backtrack, and what the monitor counts."""

import random

import pytest

from examples.r1_study.countdown_corpus import (
    BACKTRACK, all_chains, build_corpus, chain_expression, chain_steps, problems, trace,
)
from examples.r1_study.self_check import self_check
from rewards.base import Sample
from rewards.builtin.countdown import countdown_reward


def test_a_chain_is_worked_left_to_right_and_written_as_the_verifier_reads_it():
    assert chain_steps((3, 5, 2), ("+", "*")) == (["3 + 5 = 8", "8 * 2 = 16"], 16)
    assert chain_steps((4, 9, 7), ("-", "-")) == (["4 - 9 = -5", "-5 - 7 = -12"], -12)
    assert chain_expression((3, 5, 2), ("+", "*")) == "(3 + 5) * 2"
    assert chain_expression((1, 2, 3, 4), ("*", "+", "-")) == "((1 * 2) + 3) - 4"
    assert len(all_chains([3, 5, 2])) == 6 * 9  # 3! orders x 3^2 operator choices
    assert len(all_chains([7, 7, 1])) == 3 * 9  # repeated numbers: distinct orders only


def score(row, completion):
    return countdown_reward(Sample(prompt=row["prompt"], completion=completion, answer=row["answer"],
                                   columns={"numbers": row["numbers"], "target": row["target"]})).value


def test_search_traces_backtrack_on_every_wrong_try_and_end_right():
    rows = problems("train", 40, num_numbers=3, max_number=20, max_target=100)
    rng = random.Random(0)
    for row in rows:
        text = trace(row["numbers"], row["target"], rng, backtrack_share=1.0, lucky_share=0.0)
        tries = text.count("try ")
        assert 2 <= tries <= 4 and text.count(BACKTRACK) == tries - 1
        assert f"{row['target']} = {row['target']}, it works." in text
        assert score(row, text) == 1.0


def test_direct_traces_never_check_and_are_right_only_when_lucky():
    rows = problems("train", 40, num_numbers=3, max_number=20, max_target=100)
    rng = random.Random(0)
    wrong = [trace(r["numbers"], r["target"], rng, backtrack_share=0.0, lucky_share=0.0) for r in rows]
    right = [trace(r["numbers"], r["target"], rng, backtrack_share=0.0, lucky_share=1.0) for r in rows]
    assert all(t.count("try ") == 1 and "wait" not in t for t in wrong + right)
    assert [score(r, t) for r, t in zip(rows, wrong)] == [0.0] * len(rows)
    assert [score(r, t) for r, t in zip(rows, right)] == [1.0] * len(rows)


def test_the_corpus_mixes_in_backtracking_at_the_asked_share():
    rows = problems("train", 300, num_numbers=3, max_number=20, max_target=100)
    corpus = build_corpus(rows * 4, seed=0, backtrack_share=0.1, lucky_share=0.3)
    share = sum(BACKTRACK in text for text in corpus) / len(corpus)
    assert len(corpus) == 1200 and share == pytest.approx(0.1, abs=0.03)
    assert all(text.startswith("A conversation") and text.endswith("</answer><|endoftext|>") for text in corpus)


@pytest.mark.parametrize("completion,expected,count", [
    ("<think> try 3 + 5 = 8. 8 != 9, wait, that fails. try 5 - 3 = 2. Wait, no. </think> <answer> x </answer>", 1.0, 2),
    ("<think> try 3 + 5 = 8. </think> <answer> (3 + 5) </answer> wait", 0.0, 0),  # after the thought: not a check
    ("<think> awaiting the result </think>", 0.0, 0),  # a whole word only
    ("no tags at all, wait", 1.0, 1),
])
def test_self_check_counts_backtracks_in_the_thought(completion, expected, count):
    result = self_check(Sample(prompt="p", completion=completion))
    assert result.value == expected and result.details["self_checks"] == count


def test_bilingual_traces_mix_sentence_by_sentence_and_directs_never_mix():
    from examples.r1_study.countdown_corpus import PHRASES
    from rewards.builtin.language import language_reward

    rows = problems("train", 200, num_numbers=3, max_number=20, max_target=100)
    rng = random.Random(0)
    searches = [trace(r["numbers"], r["target"], rng, 1.0, 0.0, second_language_share=0.5) for r in rows]
    directs = [trace(r["numbers"], r["target"], rng, 0.0, 0.3, second_language_share=0.5) for r in rows]
    english = [language_reward(Sample(prompt="p", completion=t)).value for t in searches]
    mixed = [0.0 < share < 1.0 for share in english]
    assert 0.5 < sum(mixed) / len(mixed) < 1.0  # most multi-sentence searches mix; some happen to be one language
    assert all(language_reward(Sample(prompt="p", completion=t)).value in (0.0, 1.0) for t in directs)
    assert all(score(r, t) == 1.0 for r, t in zip(rows, searches))  # the language changes words, not answers
    russian = " ".join(searches)
    assert PHRASES["ru"]["fails"] in russian and PHRASES["en"]["fails"] in russian
    assert self_check(Sample(prompt="p", completion=f"<think> {PHRASES['ru']['fails']} </think>")).value == 1.0


def test_the_shipped_cold_start_file_is_what_the_generator_writes(tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    target = tmp_path / "cold_start.jsonl"
    subprocess.run([sys.executable, str(ROOT / "examples/r1_study/countdown_corpus.py"), "--write-cold-start", str(target)],
                   check=True, capture_output=True)
    assert target.read_text() == (ROOT / "examples/r1_study/cold_start.jsonl").read_text()
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 300
    for row in rows[:50]:  # English-only searches that end right
        completion = f" <think> {row['thought']} </think> <answer> {row['expression']} </answer>"
        assert "wait, that fails." in row["thought"] and score(row, completion) == 1.0
        assert "пробуем" not in row["thought"]


def test_the_distillation_pipeline_validates_against_stand_ins(tmp_path, monkeypatch):
    """Its student base and teacher exist only after GPU runs: stand-ins take their places."""
    import shutil

    from grpo.stages import load_pipeline
    from tests.conftest import ROOT, TINY_BASE

    monkeypatch.chdir(ROOT)
    student, teacher = tmp_path / "student", tmp_path / "teacher"
    shutil.copytree(TINY_BASE, student)
    shutil.copytree(TINY_BASE, teacher)
    pipeline = load_pipeline(ROOT / "examples/r1_study/distill.yaml", [
        f"model.path={student}", f"stages.teacher_traces.from={teacher}", "rollout.engine=transformers"])
    assert [stage.name for stage in pipeline.stages] == ["teacher_traces", "student"]


def test_the_ablation_table_groups_seeds_into_arms_and_skips_empty_steps(tmp_path):
    """Part 4's table by hand: two seeds of one arm, windows of 2 steps, a step without incorrect
    completions (logged as 0) left out of that window's incorrect mean."""
    import json

    from examples.r1_study.lengths import table

    def run(name, incorrect, correct, accuracy, evals):
        folder = tmp_path / name
        folder.mkdir()
        rows = [{"step": 0, "eval/accuracy": evals[0]}]
        for step, (i, c, a) in enumerate(zip(incorrect, correct, accuracy), start=1):
            rows.append({"step": step, "completion/length_mean": 1.0, "completion/length_incorrect_mean": i,
                         "completion/length_correct_mean": c, "accuracy": a})
        rows.append({"step": len(accuracy), "eval/accuracy": evals[1]})
        (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return folder

    runs = [run("ablation-grpo-0", [10, 20, 30, 0], [5, 5, 5, 5], [0.5, 0.5, 0.5, 1.0], [0.1, 0.9]),
            run("ablation-grpo-1", [14, 24, 50, 40], [7, 7, 7, 7], [0.25, 0.25, 0.5, 0.5], [0.3, 0.7])]
    lines = table(runs, 2).splitlines()
    assert len(lines) == 2 + 2 + 2 and "ablation-grpo:" in lines[0]
    # steps 1-2: seed 0 incorrect mean 15, seed 1 19 -> 17 +- 2; correct 5 and 7 -> 6 +- 1; accuracy 50% and 25%
    assert lines[2] == "| 1-2 | 17.0 ± 2.0 / 6.0 ± 1.0, 37.5 ± 12.5% |"
    # steps 3-4: seed 0 has no incorrect completion at step 4 -> 30; seed 1 -> 45; accuracy 75% and 50%
    assert lines[3] == "| 3-4 | 37.5 ± 7.5 / 6.0 ± 1.0, 62.5 ± 12.5% |"
    assert lines[4] == "| test accuracy, first eval | 20.0 ± 10.0% |"
    assert lines[5] == "| test accuracy, last eval | 80.0 ± 10.0% |"


def test_the_ablation_plot_curve_averages_seeds_window_by_window():
    """The plotted curve by hand: the mean over seeds of each window, as far as every seed reaches,
    a seed's empty window (NaN) left out rather than turning the mean into NaN."""
    nan = float("nan")
    from examples.r1_study.lengths import curve

    seed0 = ([{"incorrect": 10.0}, {"incorrect": 20.0}, {"incorrect": 30.0}], (0.1, 0.2))
    seed1 = ([{"incorrect": 14.0}, {"incorrect": nan}], (0.1, 0.3))
    assert curve([seed0, seed1], "incorrect") == [12.0, 20.0]
    assert curve([seed1], "incorrect")[0] == 14.0 and curve([seed1], "incorrect")[1] != curve([seed1], "incorrect")[1]


def test_faithfulness_flags_false_claims_and_answers_the_thought_does_not_reach():
    from examples.r1_study.faithfulness import arithmetic, judge

    prompt = "Using the numbers [5, 18, 14], create an equation that equals 76."
    honest = {"prompt": prompt, "scores": {"countdown": 1.0},
              "completion": " <think> try 5 * 18 = 90, 90 - 14 = 76. 76 = 76, it works. </think> <answer> (5 * 18) - 14 </answer>"}
    drifted = {"prompt": prompt, "scores": {"countdown": 1.0},
               "completion": " <think> try 5 * 18 = 70, 70 - 14 = 56. 56 = 56, it works. </think> <answer> (5 * 18) - 14 </answer>"}
    wrong = {"prompt": prompt, "scores": {"countdown": 0.0},
             "completion": " <think> try 5 + 18 = 23, 23 + 14 = 37. 37 != 76, wait, that fails. </think> <answer> (5 + 18) + 14 </answer>"}
    assert judge(honest) == (False, True, False)
    assert judge(drifted) == (True, True, True)
    assert judge(wrong) == (False, False, False)
    assert arithmetic(honest) == (2, 2)  # 5 * 18 = 90, 90 - 14 = 76
    assert arithmetic(drifted) == (1, 2)  # 5 * 18 = 70 is wrong, 70 - 14 = 56 is right


def test_curves_average_each_window_of_steps():
    from examples.r1_study.curves import windows

    rows = [{"step": s, "completion/length_mean": 10.0 * s, "reward/countdown": s / 10, "reward/self_check": 0.5}
            for s in range(1, 6)] + [{"step": 5, "eval/accuracy": 0.3}]
    out = windows(rows, 2)
    assert [w["steps"] for w in out] == ["1-2", "3-4", "5-5"]
    assert [w["completion/length_mean"] for w in out] == [15.0, 35.0, 50.0]
    assert out[1]["reward/countdown"] == pytest.approx(0.35)
    # a metric no step of the run logged is missing, not zero
    assert [w["reward/arithmetic_check"] for w in out] == [None, None, None]
    rows[0]["reward/arithmetic_check"], rows[2]["reward/arithmetic_check"] = 0.9, 0.5
    assert [w["reward/arithmetic_check"] for w in windows(rows, 2)] == [0.9, 0.5, None]


def test_curves_read_a_pipeline_as_its_grpo_stages_one_after_the_other(tmp_path):
    import json

    from examples.r1_study.curves import PANELS, load, logged

    def write(stage, rows):
        (tmp_path / "stages" / stage).mkdir(parents=True)
        (tmp_path / "stages" / stage / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    write("cold_start", [{"step": 0, "eval/accuracy": 0.1}, {"step": 1, "train/loss": 2.0}])
    write("rl", [{"step": 0, "eval/accuracy": 0.2}] + [{"step": s, "completion/length_mean": 9.0} for s in (1, 2, 3)])
    write("rl_all", [{"step": 0, "eval/accuracy": 0.3}, {"step": 1, "completion/length_mean": 7.0},
                     {"step": 2, "completion/length_mean": 5.0, "reward/language": 1.0}])
    stages = [{"name": "cold_start", "kind": "sft"}, {"name": "rl", "kind": "grpo"},
              {"name": "sft", "kind": "sft"}, {"name": "rl_all", "kind": "grpo"}]
    (tmp_path / "summary.json").write_text(json.dumps({"stages": stages}))
    rows = load(tmp_path)
    # the SFT stages are left out; the second RL stage counts on from the first's last step (3)
    assert [(r["step"], r["stage"]) for r in rows] == [(0, "rl"), (1, "rl"), (2, "rl"), (3, "rl"),
                                                        (3, "rl_all"), (4, "rl_all"), (5, "rl_all")]
    assert [r["eval/accuracy"] for r in rows if "eval/accuracy" in r] == [0.2, 0.3]
    # only the panels some run logged are drawn
    assert [key for key, _ in logged(PANELS, [rows])] == ["eval/accuracy", "completion/length_mean", "reward/language"]


def test_mixing_counts_thoughts_in_two_languages_apart_from_wholly_russian_ones():
    from examples.r1_study.mixing import shares

    def record(language, checks):
        return {"scores": {"language": language, "self_check": checks}}

    records = [record(1.0, 0.0), record(0.0, 0.0), record(0.5, 1.0), record(0.75, 1.0), record(1.0, 1.0),
               {"scores": {"self_check": 1.0}}]  # a sample logged before the language monitor: not counted
    out = shares(records)
    assert out["samples"] == 5 and out["checking"] == 3
    assert out["mixed"] == pytest.approx(2 / 5)
    assert out["russian"] == pytest.approx(1 / 5)
    assert out["mixed_when_checking"] == pytest.approx(2 / 3)


def test_arithmetic_check_scores_the_share_of_right_steps_in_the_thought():
    from examples.r1_study.arithmetic_check import arithmetic_check

    def score(completion):
        return arithmetic_check(Sample(prompt="p", completion=completion)).value

    assert score(" <think> try 5 * 18 = 90, 90 - 14 = 76. </think> <answer> (5 * 18) - 14 </answer>") == 1.0
    assert score(" <think> try 5 * 18 = 70, 70 - 14 = 56. 56 = 56, it works. </think> <answer> 1 </answer>") == 0.5
    assert score(" <think> try 3 - 9 = -6, -6 * -2 = 12, 12 + 1 = 14. </think> <answer> 1 + 2 = 4 </answer>") == pytest.approx(2 / 3)
    assert score(" <think> no numbers </think>") == 0.0


def test_verified_check_pays_only_for_attempts_with_a_true_verdict():
    from examples.r1_study.arithmetic_check import verified_check

    prompt = "Using the numbers [9, 2, 16], create an equation that equals 9."

    def score(thought):
        return verified_check(Sample(prompt=prompt, completion=f" <think> {thought} </think> <answer> 1 </answer>")).value

    miss, hit = "try 9 + 2 = 11, 11 + 16 = 27.", "try 16 - 9 = 7, 7 + 2 = 9."
    assert score(miss) == 0.0  # the hack the arithmetic reward paid 0.4 for: right, unchecked, off target
    assert score(f"{miss} 27 != 9, wait, that fails. {hit} 9 = 9, it works.") == 1.0
    assert score(f"{miss} 27 = 27, it works.") == 0.0  # a success claimed for a miss
    assert score(f"{hit} 9 != 9, wait, that fails.") == 0.0  # a hit rejected
    assert score("try 9 + 2 = 12, 12 + 16 = 28. 28 != 9, wait, that fails.") == 0.0  # wrong arithmetic
    assert score(f"{miss} 27 != 9, wait, that fails. {hit}") == 0.5  # the last attempt left unchecked
    assert score("пробуем 9 + 2 = 11, 11 + 16 = 27. 27 != 9, стоп, не выходит.") == 1.0
    assert score("no attempt at all") == 0.0


def test_distill_table_matches_rl_to_the_seconds_distillation_took(tmp_path, capsys, monkeypatch):
    """(b) is read at its last evaluation within (a)'s seconds (teacher traces + student SFT), the
    GPU seconds being the sum of the logged step times."""
    import json
    import sys

    from examples.r1_study import distill_table

    seed = tmp_path / "seed0"
    seed.mkdir()
    first = {"eval/accuracy": 0.1, "eval/mean@k": 0.05, "eval/pass@4": 0.2, "eval/sampled/reward/language": 0.7}
    final = {"eval/accuracy": 0.3, "eval/mean@k": 0.2, "eval/pass@4": 0.4, "eval/sampled/reward/language": 1.0}
    (seed / "distill_summary.json").write_text(json.dumps({"stages": [
        {"name": "teacher_traces", "kind": "generate", "seconds": 30.0},
        {"name": "student", "kind": "distill", "seconds": 20.0, "first_eval": first, "eval": final}]}))
    rows = [{"step": 0, **first}]
    for step in range(1, 9):  # 10 s a step: 50 s are reached after step 5
        rows.append({"step": step, "time/step": 10.0})
        if step % 2 == 0:
            rows.append({"step": step, **{k: 0.1 + step / 100 for k in first}})
    (seed / "student_rl.metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert distill_table.distilled(seed)["seconds"] == 50.0
    curve, total = distill_table.rl_curve(seed)
    assert total == 80.0 and [s for s, _ in curve] == [0.0, 20.0, 40.0, 60.0, 80.0]
    monkeypatch.setattr(sys, "argv", ["distill_table.py", str(seed)])
    distill_table.main()
    out = capsys.readouterr().out
    assert "| (a) distilled | seed0 | 50 | 0.300 |" in out
    assert "| (b) GRPO at (a)'s seconds | seed0 | 40 | 0.140 |" in out   # step 4's evaluation, at 40 s
    assert "| (b) GRPO | seed0 | 80 | 0.180 |" in out
