"""Where a recipe's model comes from, checked before any actor starts: a local checkpoint folder,
the Hugging Face cache, or the hub; and whether its tokenizer can write the prompt template.

Without these checks a wrong `model.path` surfaces minutes later as a library traceback (a folder
with no model: "Couldn't instantiate the backend tokenizer ... install sentencepiece"; a hub id
with no network: a 49-second retry loop, then a connection error), and a tokenizer that cannot
spell `<think>` trains on prompts full of unknown tokens without a word.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from grpo.config import ModelConfig, Recipe, RecipeError, looks_local

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model", "tiktoken.model")
HUB_TIMEOUT_S = 5.0


def check_local_checkpoint(model: ModelConfig, key: str = "model") -> None:
    """A local `path` must be a checkpoint folder: config, weights and (unless `tokenizer` names
    another source) tokenizer files. Offline and instant, so recipe loading runs it."""
    path = Path(model.path).expanduser()
    if looks_local(model.path) and path.exists():
        if not path.is_dir():
            raise RecipeError(
                f"{key}.path = {model.path!r} is a file; point it at the checkpoint folder that holds it "
                f"({str(path.parent)!r}), which must contain config.json and the weights"
            )
        if (path / "adapter_config.json").exists() and not (path / "config.json").exists():
            raise RecipeError(
                f"{key}.path = {model.path!r} holds a LoRA adapter, not a model; use a checkpoint's merged "
                "`model/` folder (a run's checkpoints/step_N/model) or the adapter's base model"
            )
        if not (path / "config.json").exists():
            raise RecipeError(
                f"{key}.path = {model.path!r} holds no model (no config.json); point it at a Hugging Face "
                "checkpoint folder (config.json, *.safetensors, tokenizer files), e.g. a run's checkpoints/step_N/model"
            )
        if not any(next(path.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
            raise RecipeError(
                f"{key}.path = {model.path!r} has a config.json but no weights (*.safetensors or "
                "pytorch_model*.bin); copy the weight files into it"
            )
    tokenizer = model.tokenizer or model.path
    tokenizer_path = Path(tokenizer).expanduser()
    if looks_local(tokenizer) and tokenizer_path.is_dir() and not any((tokenizer_path / f).exists() for f in TOKENIZER_FILES):
        which = f"{key}.tokenizer" if model.tokenizer else f"{key}.path (also the tokenizer's source)"
        raise RecipeError(
            f"{which} = {tokenizer!r} holds no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...); copy the "
            f"tokenizer files next to the weights, or set {key}.tokenizer to a folder or hub id that has them"
        )


def check_available(model: ModelConfig, key: str = "model") -> None:
    """A hub id must be in the local cache or the hub reachable; found out in seconds, not after
    a minute of retries. Run before training, evaluation or a dry run (not at recipe load: shipped
    recipes naming hub models must validate on machines without network)."""
    for field, value in ((f"{key}.path", model.path), (f"{key}.tokenizer", model.tokenizer)):
        if value is None or looks_local(value) or _cached(value):
            continue
        fix = (f"download it where there is network (`hf download {value} --local-dir DIR`), copy DIR here "
               f"and set {field}=DIR")
        if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
            raise RecipeError(f"{field} = {value!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; {fix}")
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        if not _reachable(endpoint):
            raise RecipeError(
                f"{field} = {value!r} is not a local folder, not in the Hugging Face cache, and the hub "
                f"({endpoint}) cannot be reached from here; {fix}"
            )
        _check_on_hub(field, value)


def _cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # a malformed id: let the hub lookup below name it
        return False
    return isinstance(found, str)


def _reachable(endpoint: str) -> bool:
    """A TCP connection to the hub within HUB_TIMEOUT_S; DNS included (getaddrinfo has no timeout
    of its own, so the whole attempt runs in a thread we stop waiting for)."""
    url = urlparse(endpoint)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    if not host:
        return False

    def connect() -> bool:
        with socket.create_connection((host, port), timeout=HUB_TIMEOUT_S):
            return True

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=HUB_TIMEOUT_S)
    except (OSError, FutureTimeout):
        return False
    finally:
        pool.shutdown(wait=False)


def _check_on_hub(field: str, repo_id: str) -> None:
    try:
        from huggingface_hub import model_info
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    except ImportError:
        return
    try:
        model_info(repo_id, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        raise RecipeError(f"{field} = {repo_id!r} is gated on the hub; accept its terms and `hf auth login`") from None
    except RepositoryNotFoundError:
        raise RecipeError(f"{field} = {repo_id!r}: no such model on the hub (or it is private); check the id") from None
    except Exception:  # the hub answered oddly: loading will say more than we can
        return


# --------------------------------------------------------------------------- tokenizer coverage


def check_tokenizer_covers(tokenizer: Any, texts: dict[str, str], key: str = "model") -> None:
    """Every text (the rendered template, stop strings, the tags the verifiers look for) must come
    back unchanged from encode + decode; a tokenizer that loses characters would train the policy
    on unknown tokens and never let it write `</answer>`."""
    problems = []
    for what, text in texts.items():
        if not text:
            continue
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        back = tokenizer.decode(ids, skip_special_tokens=False)
        if " ".join(back.split()) == " ".join(text.split()):
            continue
        problems.append(f"{what}: {_lost_pieces(tokenizer, text) or repr(text[:60])}")
    if problems:
        source = f"{key}.tokenizer" if getattr(tokenizer, "name_or_path", None) else f"{key}.path"
        raise RecipeError(
            f"the tokenizer of {key} ({getattr(tokenizer, 'name_or_path', '?')}) cannot write what the recipe needs: "
            f"{'; '.join(problems)} come(s) back changed from encode/decode (unknown or normalised tokens). Use a "
            f"tokenizer that covers them (a byte-level BPE such as Qwen's or Llama's, or add them with "
            f"`tokenizer.add_tokens`), set {source} to one, or pick data.template / rollout.stop it can write"
        )


def _lost_pieces(tokenizer: Any, text: str) -> str:
    """The whitespace-separated pieces of `text` that do not survive a round trip, e.g. '<think>'."""
    lost = []
    for piece in dict.fromkeys(text.split()):
        ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
        if tokenizer.decode(ids, skip_special_tokens=False).strip() != piece:
            lost.append(piece)
    lost.sort(key=lambda piece: "<" not in piece)  # tags such as <think> first: they matter most
    return ", ".join(repr(p) for p in lost[:6]) + (" ..." if len(lost) > 6 else "")


def required_texts(recipe: Recipe, tokenizer: Any) -> dict[str, str]:
    """What the policy must be able to read and write: the template around a prompt, the stop strings."""
    from grpo.data import render_prompt

    # the template's own text around a placeholder question (the data is the user's: not judged here)
    marker = "\x00"
    parts = render_prompt(marker, recipe.data, tokenizer).split(marker)
    texts = {"the prompt template": " ".join(part for part in parts if part.strip())}
    texts.update({f"the stop string {stop!r}": stop for stop in recipe.rollout.stop})
    return texts


def model_context(recipe: Recipe) -> int | None:
    """The model's context in tokens (config's max_position_embeddings), None when unknown."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(recipe.model.path, trust_remote_code=recipe.model.trust_remote_code)
    except (OSError, ValueError):
        return None
    value = getattr(config, "max_position_embeddings", None) or getattr(config, "max_sequence_length", None)
    return int(value) if value else None


def with_prompt_limit(recipe: Recipe, key: str = "") -> Recipe:
    """rollout.max_prompt_tokens resolved (default: context - max_completion_tokens) and checked
    against the model's context before any data is read."""
    r = recipe.rollout
    context = model_context(recipe)
    if context is None:
        return recipe if r.max_prompt_tokens is not None else recipe.model_copy(
            update={"rollout": r.model_copy(update={"max_prompt_tokens": 512})})
    if r.max_completion_tokens >= context:
        raise RecipeError(f"{key}rollout.max_completion_tokens = {r.max_completion_tokens}: the model's context is "
                          f"{context} tokens (max_position_embeddings), which must also hold the prompt; lower it")
    if r.max_prompt_tokens is None:
        return recipe.model_copy(update={"rollout": r.model_copy(update={"max_prompt_tokens": context - r.max_completion_tokens})})
    if r.max_prompt_tokens + r.max_completion_tokens > context:
        raise RecipeError(
            f"{key}rollout.max_prompt_tokens + rollout.max_completion_tokens = {r.max_prompt_tokens} + "
            f"{r.max_completion_tokens} exceeds the model's context of {context} tokens (max_position_embeddings); "
            "lower one of them"
        )
    return recipe


def prepare(recipe: Recipe, key: str = "model") -> tuple[Recipe, Any]:
    """The recipe with its prompt limit resolved, and its checked tokenizer: what every command
    runs first, so a bad model costs one line before any data or actor."""
    tokenizer = load_checked_tokenizer(recipe, key)
    return with_prompt_limit(recipe, key.removesuffix("model")), tokenizer


def load_checked_tokenizer(recipe: Recipe, key: str = "model") -> Any:
    """The recipe's tokenizer, once the model is known to be reachable and the tokenizer to cover
    the template; every failure is one RecipeError line naming the key and the fix."""
    from grpo.data import DataError
    from grpo.policy import load_tokenizer

    check_available(recipe.model, key)
    try:
        tokenizer = load_tokenizer(recipe.model)
    except (OSError, ValueError) as err:  # what transformers raises for files it cannot use
        raise RecipeError(f"{key}.path = {recipe.model.path!r}: transformers cannot load its tokenizer "
                          f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    try:
        check_tokenizer_covers(tokenizer, required_texts(recipe, tokenizer), key)
    except DataError as err:
        raise RecipeError(str(err)) from None
    return tokenizer
