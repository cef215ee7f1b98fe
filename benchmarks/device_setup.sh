#!/usr/bin/env bash
# Install vLLM 0.26.0 (the last release built for torch 2.11 / CUDA 13, the device image's torch)
# and the wheels the image lacks, on the lent GPU machine, which has no network.
#
# Here (a machine with pip access), once:
#   benchmarks/device_fetch.sh            # -> .vc0 … .vc3 (44 MiB parts) and .whl (Ray, TRL, …)
# Then one `run` per part, each carrying one folder, back to back while the machine is warm:
#   mkdir -p /tmp/vc && cp .vcN/* /tmp/vc/
# and in the call that carries .whl:
#   source benchmarks/device_setup.sh && python3 benchmarks/vllm_check.py …
set -euo pipefail
if [ ! -f /tmp/site/.vllm-ready ]; then
  cat /tmp/vc/part0* > /tmp/blob.tar
  mkdir -p /tmp/vb && tar -xf /tmp/blob.tar -C /tmp/vb
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl /tmp/vb/deps/*.whl
  tar -xzf /tmp/vb/vllm-trim.tgz -C /tmp/site
  rm -rf /tmp/blob.tar /tmp/vb
  touch /tmp/site/.vllm-ready
fi
export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
set +euo pipefail
