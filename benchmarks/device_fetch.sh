#!/usr/bin/env bash
# Fetch vLLM 0.26.0 and the packages it imports that the device image lacks, trim what a Hopper
# GPU never loads (FlashAttention 2 kernels, Blackwell FMHA, the Rust frontend, DeepGEMM builds
# for other Pythons), and cut the result into parts that fit one device call's carry.
# See benchmarks/device_setup.sh for the device side.
set -euo pipefail
work=${1:-/tmp/vllm-fetch}
mkdir -p "$work/deps" "$work/trim"
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
      --platform manylinux_2_24_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64
      --platform manylinux_2_35_x86_64)
python3 -m pip download -q --no-deps "${plat[@]}" -d "$work" vllm==0.26.0
# what `import vllm` and `vllm.LLM` need beyond torch, transformers, numpy and the image's others
python3 -m pip download -q --no-deps "${plat[@]}" -d "$work/deps" \
  aiohappyeyeballs==2.7.1 aiohttp==3.14.5 aiosignal==1.4.0 frozenlist==1.8.0 multidict==7.2.1 propcache==0.5.4 \
  yarl==1.25.1 cachetools==8.0.1 cbor2==6.3.0 cloudpickle==3.1.2 einops==0.8.2 fastapi==0.165.0 starlette==1.10.0 \
  annotated-doc==0.0.7 jiter==0.19.0 llguidance==1.9.1 msgspec==0.22.0 openai==3.54.0 openai-harmony==0.0.8 \
  partial-json-parser==0.2.1.1.post7 prometheus_client==0.26.0 py-cpuinfo==9.0.0 pybase64==1.5.1 pyzmq==27.3.0 \
  uvloop==0.23.0 xgrammar==0.2.8 apache-tvm-ffi==0.1.15.post2 httpx2==2.16.2 httpcore2==2.16.2 \
  opentelemetry-api==1.45.2 sniffio==1.3.1 truststore==0.10.5
(cd "$work/trim" && rm -rf ./* && unzip -q "$work"/vllm-0.26.0-*.whl \
  && rm -f vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so vllm/vllm-rs && rm -rf vllm/third_party/fmha_sm100 \
  && rm -f vllm/third_party/deep_gemm/_C.cpython-31[0134]-*.so)
tar -czf "$work/vllm-trim.tgz" -C "$work/trim" .
(cd "$work" && tar -cf blob.tar vllm-trim.tgz deps/*.whl && rm -rf parts && mkdir parts && split -b 44M -d blob.tar parts/part)
for part in "$work"/parts/part*; do
  i=${part##*part0}; rm -rf ".vc$i"; mkdir ".vc$i"; cp "$part" ".vc$i/"
done
grep -q '^/.vc' .git/info/exclude || echo '/.vc*/' >> .git/info/exclude
../shared/tools/device-wheels .whl pydantic==2.14.3 pydantic-core==2.50.4 annotated-types typing-inspection liger-kernel==0.8.5
# Ray 2.60's wheel with the working tree (18 MiB) no longer fits one call's 64 MiB carry: drop the
# libraries grpo never imports (RLlib, Serve, Data, Train, Tune) and the dashboard's web client
for wheel in .whl/ray-*.whl; do
  tmp=$(mktemp -d)
  (cd "$tmp" && unzip -q "$OLDPWD/$wheel" && rm -rf ray/rllib ray/serve ray/data ray/train ray/tune ray/dashboard/client \
    && python3 - <<'PY'
import os
record = [p for p in os.listdir(".") if p.endswith(".dist-info")][0] + "/RECORD"
kept = [line for line in open(record) if os.path.exists(line.split(",")[0])]
open(record, "w").writelines(kept)
PY
  )
  rm -f "$wheel" && (cd "$tmp" && zip -qr "$OLDPWD/$wheel" .) && rm -rf "$tmp"
done
ls -la .vc*/ .whl | head -40
