"""Bad model input stops with one line naming the key, what is missing and the fix, before any actor
starts: a folder with no model, no weights or no tokenizer, a hub id that cannot be reached, and a
tokenizer that cannot write the template."""

import shutil
import time

import pytest
import yaml

from grpo.cli import main
from grpo.config import ModelConfig, RecipeError, load_recipe
from grpo.model_source import check_available, check_tokenizer_covers
from tests.conftest import TINY_BASE, minimal_recipe


def write(tmp_path, recipe):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def recipe_with_model(tmp_path, model_dir):
    return write(tmp_path, minimal_recipe(tmp_path, model={"path": str(model_dir)}))


def test_a_folder_with_no_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe_with_model(tmp_path, tmp_path / "empty"))
    message = str(err.value)
    assert "model.path" in message and "no config.json" in message and "checkpoints/step_N/model" in message
    assert "\n" not in message


def test_a_folder_with_a_config_but_no_weights(tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    shutil.copy(TINY_BASE / "config.json", folder)
    with pytest.raises(RecipeError, match=r"model.path = .* has a config.json but no weights"):
        load_recipe(recipe_with_model(tmp_path, folder))


def test_a_folder_with_no_tokenizer_files(tmp_path):
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(TINY_BASE / name, folder)
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe_with_model(tmp_path, folder))
    assert "holds no tokenizer files" in str(err.value) and "model.tokenizer" in str(err.value)
    # naming a tokenizer elsewhere is the fix
    raw = minimal_recipe(tmp_path, model={"path": str(folder), "tokenizer": str(TINY_BASE)})
    assert load_recipe(write(tmp_path, raw)).model.tokenizer == str(TINY_BASE)


def test_a_weights_file_instead_of_its_folder(tmp_path):
    with pytest.raises(RecipeError, match="is a file; point it at the checkpoint folder"):
        load_recipe(recipe_with_model(tmp_path, TINY_BASE / "model.safetensors"))


def test_an_unreachable_hub_id_fails_in_seconds(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.time()
    with pytest.raises(RecipeError) as err:
        check_available(ModelConfig(path="grpo-tests/not-a-cached-model"))
    message = str(err.value)
    assert time.time() - started < 10
    assert "model.path = 'grpo-tests/not-a-cached-model'" in message and "cannot be reached" in message
    assert "hf download grpo-tests/not-a-cached-model" in message and "model.path=DIR" in message


def test_offline_mode_with_an_uncached_hub_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RecipeError, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        check_available(ModelConfig(path="grpo-tests/not-a-cached-model"))


def test_local_models_need_no_network(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    check_available(ModelConfig(path=str(TINY_BASE)))


def word_level_tokenizer(directory):
    """A tokenizer that knows a handful of words and nothing else (no byte fallback)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[UNK]", "[PAD]", "What", "is", "12", "+", "34", "?", "A", "conversation"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[PAD]")
    tokenizer.save_pretrained(directory)
    return tokenizer


def test_a_tokenizer_that_cannot_write_the_tags(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = word_level_tokenizer(tmp_path / "tok")
    with pytest.raises(RecipeError) as err:
        check_tokenizer_covers(tokenizer, {"the stop string '</answer>'": "</answer>", "the prompt": "What is 12 + 34?"})
    message = str(err.value)
    assert "the stop string '</answer>': '</answer>'" in message and "What is" not in message.split("come(s)")[0].split(";")[0]
    check_tokenizer_covers(AutoTokenizer.from_pretrained(TINY_BASE), {"tags": "<think> x </think> <answer> 4 </answer>"})


def test_dry_run_with_such_a_tokenizer_is_one_error_line(tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(TINY_BASE, model)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"):
        (model / name).unlink(missing_ok=True)
    word_level_tokenizer(model)
    raw = minimal_recipe(tmp_path, model={"path": str(model)}, rollout={"stop": ["</answer>"]})
    code = main(["train", str(write(tmp_path, raw)), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: the tokenizer of model") and "'<think>'" in err and "'</answer>'" in err
    assert "Traceback" not in err and err.count("\n") == 1
