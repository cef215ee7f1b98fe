"""Pipeline recipes: inheritance, `from:` and `data.*.stage` resolution, and every mistake caught at
load with the key written as the user must write it (`stages[2].trainer.learning_rate`)."""

import importlib.util

import pytest
import yaml

from grpo.config import RecipeError, load_recipe
from grpo.stages import dataset_path, load_pipeline, model_dir, pipeline_from_dict
from tests.conftest import ROOT, TINY_BASE, minimal_recipe


def pipeline(tmp_path, stages, **top):
    raw = minimal_recipe(tmp_path, **top)
    raw["name"] = "pipe"
    raw["stages"] = stages
    return raw


SFT_DATA = {"train": {"task": "arithmetic", "num_samples": 8}}
FOUR = [
    {"name": "cold", "kind": "sft", "data": SFT_DATA,
     "sft": {"completion_format": " <answer> {answer} </answer>"}},
    {"name": "rl", "kind": "grpo", "from": "cold", "trainer": {"learning_rate": 3e-6}},
    {"name": "rs", "kind": "generate", "from": "rl", "generate": {"samples_per_prompt": 2}},
    {"name": "student", "kind": "distill", "from": str(TINY_BASE), "data": {"train": {"stage": "rs"}}},
]


def test_stages_inherit_and_override_the_top_level_sections(tmp_path):
    loaded = pipeline_from_dict(pipeline(tmp_path, FOUR, trainer={"learning_rate": 1e-5, "steps": 7}))
    cold, rl, rs, student = loaded.stages
    assert cold.recipe.trainer.learning_rate == 1e-5 and rl.recipe.trainer.learning_rate == 3e-6
    assert rl.recipe.trainer.steps == 7  # inherited key by key: steps kept, learning_rate replaced
    assert rl.recipe.rollout.group_size == 4  # from minimal_recipe's top level
    assert cold.recipe.data.train.num_samples == 8 and rl.recipe.data.train.num_samples == 64
    assert loaded.run_dir == tmp_path / "runs" / "pipe"
    assert rl.recipe.run_dir == tmp_path / "runs" / "pipe" / "stages" / "rl"


def test_from_and_stage_data_resolve_to_where_earlier_stages_write(tmp_path):
    loaded = pipeline_from_dict(pipeline(tmp_path, FOUR))
    cold, rl, rs, student = loaded.stages
    assert cold.recipe.model.path == str(TINY_BASE) and cold.model_from is None
    assert rl.model_from == "cold" and rl.recipe.model.path == str(model_dir(loaded.run_dir, "cold"))
    assert rs.recipe.model.path == str(model_dir(loaded.run_dir, "rl"))
    assert student.data_from == {"train": "rs"} and student.depends_on == ["rs"]
    assert student.recipe.data.train.path == str(dataset_path(loaded.run_dir, "rs", "jsonl"))
    assert student.recipe.model.path == str(TINY_BASE)


def test_a_stage_dataset_replaces_the_inherited_one_whole(tmp_path):
    student = pipeline_from_dict(pipeline(tmp_path, FOUR)).stages[3]
    assert student.recipe.data.train.task is None and student.recipe.data.train.num_samples is None


def errors_of(raw):
    with pytest.raises(RecipeError) as err:
        pipeline_from_dict(raw)
    return str(err.value)


def test_unknown_from_suggests_the_stage(tmp_path):
    stages = [FOUR[0], {**FOUR[1], "from": "cld"}]
    message = errors_of(pipeline(tmp_path, stages))
    assert "stages[1].from = 'cld' is neither an earlier stage (cold) nor a model path" in message
    assert "did you mean 'cold'" in message


def test_a_cycle_is_named(tmp_path):
    stages = [{**FOUR[0], "from": "rl"}, {**FOUR[1], "from": "cold"}]
    assert "stages form a cycle: cold -> rl -> cold" in errors_of(pipeline(tmp_path, stages))


def test_from_a_later_stage_or_a_generate_stage(tmp_path):
    later = [{**FOUR[0], "from": "rl"}, {**FOUR[1], "from": None}]
    assert "stages[0].from = 'rl': that stage runs at or after this one (stages[1])" in errors_of(pipeline(tmp_path, later))
    from_generate = FOUR[:3] + [{"name": "bad", "kind": "grpo", "from": "rs"}]
    assert "stages[3].from = 'rs' is a generate stage" in errors_of(pipeline(tmp_path, from_generate))
    data_from_training = FOUR[:2] + [{"name": "s", "kind": "sft", "data": {"train": {"stage": "rl"}}}]
    assert "stages[2].data.train.stage = 'rl' is a grpo stage" in errors_of(pipeline(tmp_path, data_from_training))


def test_field_errors_name_the_stage_key(tmp_path):
    stages = [FOUR[0], {**FOUR[1], "trainer": {"learning_rate": -1}}, {**FOUR[2], "rollout": {"groupsize": 3}}]
    message = errors_of(pipeline(tmp_path, stages))
    assert "stages[1].trainer.learning_rate = -1" in message
    assert "unknown key 'stages[2].rollout.groupsize' (did you mean 'stages[2].rollout.group_size'?)" in message


def test_cross_field_errors_name_the_stage_key(tmp_path):
    stages = [FOUR[0], {**FOUR[1], "trainer": {"minibatch_size": 5}}]
    assert "stages[1].trainer.minibatch_size = 5: must divide" in errors_of(pipeline(tmp_path, stages))


def test_stage_kind_requirements(tmp_path):
    no_data = FOUR[:3] + [{"name": "student", "kind": "distill", "from": str(TINY_BASE)}]
    assert "stages[3] (student) is a distill stage: set stages[3].data.train.stage" in errors_of(pipeline(tmp_path, no_data))
    bad_accept = FOUR[:2] + [{**FOUR[2], "generate": {"accept": ["answr"]}}]
    assert "stages[2].generate.accept = ['answr']" in errors_of(pipeline(tmp_path, bad_accept))
    assert "stages[0].kind = 'rl'" in errors_of(pipeline(tmp_path, [{"name": "x", "kind": "rl"}]))
    duplicate = [FOUR[0], {**FOUR[1], "name": "cold"}]
    assert "stages[1].name = 'cold': stages[0] has the same name" in errors_of(pipeline(tmp_path, duplicate))
    assert "unknown key 'stages[0].tranier'" in errors_of(pipeline(tmp_path, [{**FOUR[0], "tranier": {}}]))


def test_a_missing_external_model_is_caught_but_produced_paths_need_not_exist(tmp_path):
    missing = [FOUR[0], {**FOUR[1], "from": "./no/such/model"}]
    assert "stages[1].model.path = './no/such/model': no such file" in errors_of(pipeline(tmp_path, missing))
    pipeline_from_dict(pipeline(tmp_path, FOUR))  # rl's model and student's data do not exist yet: fine


def test_a_missing_from_checkpoint_is_not_blamed_on_the_base_build_command(tmp_path):
    """distill.yaml's teacher stage reads another pipeline's model: the student base's build command
    does not make it, so the error must not tell the user to run that command."""
    stages = [{"name": "teacher", "kind": "generate", "from": "./runs/other/stages/rl_all/model",
               "generate": {"samples_per_prompt": 2}}]
    raw = pipeline(tmp_path, stages)
    raw["model"]["build_command"] = "python build_student.py"
    message = errors_of(raw)
    assert "stages[0].model.path = './runs/other/stages/rl_all/model': no such file" in message
    assert "build_student" not in message


def test_overrides_reach_one_stage_or_all(tmp_path):
    path = tmp_path / "pipe.yaml"
    path.write_text(yaml.safe_dump(pipeline(tmp_path, FOUR)))
    loaded = load_pipeline(path, ["stages.rl.trainer.steps=3", "rollout.group_size=2"])
    assert loaded.stages[1].recipe.trainer.steps == 3 and loaded.stages[0].recipe.trainer.steps == 2
    assert all(stage.recipe.rollout.group_size == 2 for stage in loaded.stages)
    with pytest.raises(RecipeError, match="stages.<stage name>"):
        load_pipeline(path, ["stages.nope.trainer.steps=3"])


def test_plain_recipes_are_unchanged_and_refuse_stage_data(tmp_path):
    raw = minimal_recipe(tmp_path)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(raw))
    assert load_recipe(tmp_path / "plain.yaml").trainer.steps == 2
    raw["data"]["test"] = {"stage": "x"}
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match="data.test.stage = 'x': only a stage of a pipeline"):
        load_recipe(tmp_path / "plain.yaml")


@pytest.mark.parametrize("name", ["r1-quickstart.yaml", "r1.yaml", "distill.yaml"])
def test_shipped_pipelines_validate(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    overrides = [] if importlib.util.find_spec("vllm") else ["rollout.engine=transformers"]  # CI has no vLLM
    loaded = load_pipeline(ROOT / "recipes" / name, overrides)
    assert len(loaded.stages) >= 2 and loaded.stages[-1].recipe.run_dir.parent.parent == loaded.run_dir
