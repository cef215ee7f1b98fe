"""Recipe validation: each kind of mistake gives one error naming the key, the value and the fix."""

import importlib.util
import shutil

import pytest
import yaml

from grpo.config import RecipeError, apply_override, dump_recipe, load_recipe, recipe_from_dict
from tests.conftest import ROOT, TINY_BASE, minimal_recipe


def write(tmp_path, recipe):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_valid_recipe_and_defaults(tmp_path):
    recipe = load_recipe(write(tmp_path, minimal_recipe(tmp_path)))
    assert recipe.rollout.group_size == 4
    assert recipe.algorithm.advantage == "grpo" and recipe.algorithm.beta == 0.0
    assert recipe.batch_size == 16


def test_dotted_overrides_parse_values(tmp_path):
    recipe = load_recipe(
        write(tmp_path, minimal_recipe(tmp_path)),
        ["trainer.learning_rate=3e-6", "rollout.group_size=8", "rollout.stop=['</answer>']", "algorithm.advantage=rloo"],
    )
    assert recipe.trainer.learning_rate == 3e-6
    assert recipe.rollout.group_size == 8
    assert recipe.rollout.stop == ["</answer>"]
    assert recipe.algorithm.advantage == "rloo"


def test_unknown_key_names_key_and_suggests(tmp_path):
    raw = minimal_recipe(tmp_path, rollout={"groupsize": 8})
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(raw)
    message = str(err.value)
    assert "rollout.groupsize" in message and "did you mean 'rollout.group_size'" in message


def test_unknown_override_key(tmp_path):
    with pytest.raises(RecipeError, match="unknown key 'trainer.lr'"):
        load_recipe(write(tmp_path, minimal_recipe(tmp_path)), ["trainer.lr=1e-5"])


def test_wrong_type_names_value(tmp_path):
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(minimal_recipe(tmp_path, rollout={"group_size": "many"}))
    assert "rollout.group_size = 'many'" in str(err.value)
    assert "Samples per prompt" in str(err.value)  # the field's help says what it is


def test_out_of_range_value(tmp_path):
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(minimal_recipe(tmp_path, rollout={"group_size": 1}))
    assert "rollout.group_size = 1" in str(err.value) and "greater than or equal to 2" in str(err.value)


def test_missing_required_section(tmp_path):
    raw = minimal_recipe(tmp_path)
    del raw["rewards"]
    with pytest.raises(RecipeError, match="rewards is required"):
        recipe_from_dict(raw)


def test_missing_model_file(tmp_path):
    raw = minimal_recipe(tmp_path, model={"path": "./no/such/model"})
    with pytest.raises(RecipeError, match=r"model.path = './no/such/model': no such file"):
        load_recipe(write(tmp_path, raw))


def test_missing_data_file(tmp_path):
    raw = minimal_recipe(tmp_path, data={"train": {"path": str(tmp_path / "missing.jsonl")}})
    with pytest.raises(RecipeError, match="data.train.path"):
        load_recipe(write(tmp_path, raw))


def test_minibatch_must_divide_batch(tmp_path):
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(minimal_recipe(tmp_path, trainer={"minibatch_size": 5}))
    assert "trainer.minibatch_size = 5" in str(err.value) and "must divide the batch of 16" in str(err.value)


def test_microbatch_must_divide_minibatch(tmp_path):
    with pytest.raises(RecipeError, match="trainer.microbatch_size = 3"):
        recipe_from_dict(minimal_recipe(tmp_path, trainer={"minibatch_size": 8, "microbatch_size": 3}))


def test_sharing_lora_base_weights_needs_colocated_lora(tmp_path):
    with pytest.raises(RecipeError, match="rollout.vllm.share_lora_base = True: .* needs model.lora.enabled=true"):
        recipe_from_dict(minimal_recipe(tmp_path, rollout={"vllm": {"share_lora_base": True}}))
    lora = {"lora": {"enabled": True}}
    with pytest.raises(RecipeError, match="rollout.vllm.share_lora_base = True"):
        recipe_from_dict(minimal_recipe(tmp_path, model=lora, rollout={"colocate": False, "vllm": {"share_lora_base": True}}))
    recipe = recipe_from_dict(minimal_recipe(tmp_path, model=lora, rollout={"vllm": {"share_lora_base": True}}))
    assert recipe.rollout.vllm.share_lora_base and recipe.rollout.colocate


def test_dr_grpo_with_std_is_refused(tmp_path):
    with pytest.raises(RecipeError, match="algorithm.std_scope = 'group'"):
        recipe_from_dict(minimal_recipe(tmp_path, algorithm={"advantage": "dr_grpo"}))


def test_dataset_needs_exactly_one_source(tmp_path):
    raw = minimal_recipe(tmp_path, data={"train": {"task": "arithmetic", "num_samples": 4, "path": "x.jsonl"}})
    with pytest.raises(RecipeError, match="exactly one of `task`"):
        recipe_from_dict(raw)


def test_correctness_must_name_a_verifier(tmp_path):
    with pytest.raises(RecipeError, match="rewards.correctness = 'math'"):
        recipe_from_dict(minimal_recipe(tmp_path, rewards={"verifiers": [{"name": "answer"}], "correctness": "math"}))


def test_bad_yaml_and_missing_recipe(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)


def test_malformed_override():
    with pytest.raises(RecipeError, match="key.path=value"):
        apply_override({}, "trainer.learning_rate")


def test_dump_round_trips(tmp_path):
    recipe = load_recipe(write(tmp_path, minimal_recipe(tmp_path)), ["algorithm.epsilon_high=0.28"])
    again = recipe_from_dict(yaml.safe_load(dump_recipe(recipe)))
    assert again == recipe


@pytest.mark.parametrize("recipe_file", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_validate(recipe_file, monkeypatch, tmp_path):
    """On any machine: a recipe whose model a script builds is validated against a stand-in built here."""
    from grpo.stages import is_pipeline, load_pipeline

    monkeypatch.chdir(ROOT)
    overrides = [] if importlib.util.find_spec("vllm") else ["rollout.engine=transformers"]  # GPU recipes
    if yaml.safe_load(recipe_file.read_text())["model"].get("build_command"):
        stand_in = tmp_path / "stand-in-base"
        shutil.copytree(TINY_BASE, stand_in)
        overrides.append(f"model.path={stand_in}")
    if is_pipeline(recipe_file):
        load_pipeline(recipe_file, overrides)
    else:
        load_recipe(recipe_file, overrides)


def test_a_missing_built_model_names_the_command_that_builds_it(tmp_path):
    raw = minimal_recipe(tmp_path, model={"path": str(tmp_path / "not-built-yet"), "build_command": "bash make_base.sh"})
    with pytest.raises(RecipeError) as err:
        load_recipe(write(tmp_path, raw))
    message = str(err.value)
    assert "model.path" in message and "not-built-yet" in message and "`bash make_base.sh`" in message


def test_verifier_labels_default_to_the_attribute_never_a_path(tmp_path):
    plugin = tmp_path / "my_rewards.py"
    plugin.write_text("def brevity(sample):\n    return 1.0\n")
    raw = minimal_recipe(tmp_path, rewards={"verifiers": [
        {"name": "answer"}, {"name": f"{plugin}:brevity"}, {"name": "rewards.builtin.format:format_reward", "label": "fmt"},
    ]})
    recipe = load_recipe(write(tmp_path, raw))
    assert [v.label for v in recipe.rewards.verifiers] == ["answer", "brevity", "fmt"]


def test_two_verifiers_with_one_label_name_both(tmp_path):
    raw = minimal_recipe(tmp_path, rewards={"verifiers": [
        {"name": "format", "kwargs": {"mode": "strict"}}, {"name": "answer"}, {"name": "format", "kwargs": {"mode": "partial"}},
    ]})
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(raw)
    message = str(err.value)
    assert "rewards.verifiers.0 (format)" in message and "rewards.verifiers.2 (format)" in message
    assert "reward/format" in message and "label" in message
    raw["rewards"]["verifiers"][2]["label"] = "format_partial"
    assert [v.label for v in recipe_from_dict(raw).rewards.verifiers] == ["format", "answer", "format_partial"]


def test_a_label_may_not_contain_a_slash(tmp_path):
    with pytest.raises(RecipeError, match="rewards.verifiers.0.label"):
        recipe_from_dict(minimal_recipe(tmp_path, rewards={"verifiers": [{"name": "answer", "label": "a/b"}]}))
