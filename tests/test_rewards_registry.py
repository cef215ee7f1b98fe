"""Registration all four ways: built-in, module:attr, file.py:attr, entry point of an installed package."""

import subprocess
import sys

import pytest

from rewards import Sample, VerifierError, available, build, resolve
from tests.conftest import ROOT

PLUGIN = ROOT / "examples" / "custom_verifier"


def test_builtin_by_name():
    assert {"math", "format", "answer", "countdown", "language", "overlong", "repetition"} <= set(available())
    assert build("answer", {})([Sample("p", "<answer>3</answer>", answer="3")])[0].value == 1.0


def test_module_attr():
    fn = build("tests.test_rewards_base:per_sample", {"scale": 3.0})
    assert fn([Sample("p", "ab")])[0].value == 6.0


def test_file_path_attr(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text("def shout(sample):\n    return float(sample.completion.isupper())\n")
    fn = build(f"{path}:shout", {})
    assert [r.value for r in fn([Sample("p", "HI"), Sample("p", "hi")])] == [1.0, 0.0]


def test_class_gets_kwargs_in_constructor():
    fn = build("tests.test_rewards_base:Scaled", {"factor": 0.25})
    assert fn([Sample("p", "x")])[0].value == 0.25


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(VerifierError, match="unknown verifier 'nope'"):
        resolve("nope")
    with pytest.raises(VerifierError, match="cannot import 'no_such_pkg'"):
        resolve("no_such_pkg:f")
    with pytest.raises(VerifierError, match="does not exist"):
        resolve(str(tmp_path / "missing.py") + ":f")
    with pytest.raises(VerifierError, match="has no attribute 'nothing'"):
        resolve("tests.test_rewards_base:nothing")
    with pytest.raises(VerifierError, match="takes no argument"):
        build("answer", {"tolerance": 1})


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """The example plugin pip-installed into a private directory (never into the test venv)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(PLUGIN)],
                   check=True, capture_output=True)
    return target


def test_entry_point_of_installed_package(installed_plugin):
    code = (
        "from rewards import available, build, Sample\n"
        "assert available()['even_answer'].startswith('entry point')\n"
        "print(build('even_answer', {'bonus': 2.0})([Sample('p', '<answer>4</answer>'), Sample('p', 'none')]))\n"
    )
    env = {"PYTHONPATH": f"{installed_plugin}:{ROOT}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert "value=2.0" in out and "value=None" in out


def test_short_recipe_with_the_installed_plugin(installed_plugin, tmp_path, cli_env):
    """Installs the example package and trains two steps with its entry-point and TRL-style verifiers."""
    env = {**cli_env, "PYTHONPATH": f"{installed_plugin}:{ROOT}"}
    command = [sys.executable, "-m", "grpo.cli", "train", "recipes/quickstart.yaml", f"output_dir={tmp_path}",
               "trainer.steps=2", "rollout.prompts_per_step=4", "rollout.group_size=4", "data.test=null",
               "logging.progress=false",
               "rewards.verifiers=[{name: answer}, {name: even_answer, weight: 0.5}, {name: answer_length, weight: 0.1}]"]
    subprocess.run(command, check=True, cwd=ROOT, env=env, capture_output=True)
    import json

    lines = [json.loads(line) for line in (tmp_path / "quickstart" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["reward/even_answer/failures"] == 0 and line["reward/answer_length/failures"] == 0
        # the logged means are the raw scores (the weights apply to the total): even_answer is 0 or 1
        assert 0.0 <= line["reward/even_answer"] <= 1.0 and 0.0 <= line["reward/answer_length"] <= 1.0


def test_trl_accuracy_reward_gets_chat_messages_and_columns():
    fn = build("trl.rewards:accuracy_reward", {})
    chat = [{"role": "user", "content": "What is 123 + 456?"}]
    samples = [Sample(chat, r"The sum is $\boxed{579}$", columns={"solution": "579"}),
               Sample(chat, r"The sum is $\boxed{578}$", columns={"solution": "579"})]
    assert [r.value for r in fn(samples)] == [1.0, 0.0]
