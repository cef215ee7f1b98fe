#!/usr/bin/env bash
# Fetch verl 0.9.1 and what it imports beyond the device image, vLLM (benchmarks/device_fetch.sh) and
# .whl (Ray, pydantic, ...), into .verl (one device call's carry). verl 0.9.1 pins transformers
# <5.11 (its vllm extra: 5.9.0) while the image has 5.17, and omegaconf needs antlr4 4.9 while
# math-verify needs 4.13: so .verl goes into its own --target, first on PYTHONPATH for the verl row
# only (benchmarks/verl_row.py says how).
set -euo pipefail
dir=${1:-.verl}
mkdir -p "$dir"
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps "${plat[@]}" -d "$dir" \
  verl==0.9.1 transformers==5.9.0 hydra-core==1.3.2 omegaconf==2.3.0 codetiming \
  tensordict==0.10.0 torchdata pylatexenc uvicorn h11 mathruler \
  'pyvers>=0.1.0,<0.2.0' orjson importlib_metadata TransferQueue==0.1.11 trl==0.27.0 \
  watchfiles prometheus-fastapi-instrumentator model-hosting-container-standards jmespath
# pyvers, orjson, importlib_metadata: tensordict's own requirements, absent on the image; TransferQueue:
# verl's v1 trainer (the default) imports it inside TaskRunnerV1.run (verl's verl-core extra).
# trl 0.27.0: verl's own pin (its fsdp extra); its monkey patch imports AutoModelForCausalLMWithValueHead,
# which TRL 1.x (the .whl copy, for TRL's rows) no longer has. The rest: what vLLM's OpenAI server
# (verl's rollout runs vLLM as a server, not the offline LLM our rows use) imports at module level
# beyond the trimmed vLLM's deps: found by an import walk of vllm.entrypoints.cli.serve (2026-12-06).
# omegaconf's parser runtime: pure Python, published as a source archive only
python3 -m pip wheel -q --no-deps -w "$dir" antlr4-python3-runtime==4.9.3
grep -q '^/.verl/' .git/info/exclude || echo '/.verl/' >> .git/info/exclude
du -sh "$dir"
