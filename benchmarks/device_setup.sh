#!/usr/bin/env bash
# Install vLLM 0.26.0 (the last release built for torch 2.11 / CUDA 13, the device image's torch)
# and the wheels the image lacks, on the lent GPU machine, which has no network.
#
# Here (a machine with pip access), once:
#   benchmarks/device_fetch.sh            # -> .vc0 … .vc3 (44 MiB parts) and .whl (Ray, TRL, …)
# Then one `run` per part, each carrying one folder, back to back while the machine is warm:
#   mkdir -p /tmp/vc && cp .vcN/* /tmp/vc/
# and in the call that carries .whl (without the parts it installs .whl alone, no vLLM):
#   source benchmarks/device_setup.sh && python3 benchmarks/vllm_check.py …
set -euo pipefail
# Without the vLLM parts (no /tmp/vc/part*), only the wheels in .whl go in: enough for every run
# that pins rollout.engine=transformers (the R1 study, the small workload's rows, train_profile.py).
if [ ! -f /tmp/site/.whl-ready ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  touch /tmp/site/.whl-ready
fi
# Only once every part has arrived: a call that carries part 0 of 4 must not leave half a vLLM
# under /tmp/site (it would shadow the transformers engine with an ImportError).
if [ ! -f /tmp/site/.vllm-ready ] && compgen -G "/tmp/vc/part0*" > /dev/null; then
  cat /tmp/vc/part0* > /tmp/blob.tar
  rm -rf /tmp/vb && mkdir -p /tmp/vb
  if tar -xf /tmp/blob.tar -C /tmp/vb 2> /dev/null && gzip -t /tmp/vb/vllm-trim.tgz 2> /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site /tmp/vb/deps/*.whl
    tar -xzf /tmp/vb/vllm-trim.tgz -C /tmp/site
    touch /tmp/site/.vllm-ready
  else
    echo "device_setup: $(ls /tmp/vc/part0* | wc -l) vLLM part(s) so far, not complete: vLLM not installed yet"
  fi
  rm -rf /tmp/blob.tar /tmp/vb
fi
export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
set +euo pipefail
