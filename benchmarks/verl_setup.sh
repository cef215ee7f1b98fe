#!/usr/bin/env bash
# On the device, after benchmarks/device_setup.sh (vLLM and .whl): install .verl (benchmarks/verl_fetch.sh)
# into its own --target, first on PYTHONPATH for the verl row only:
#   source benchmarks/device_setup.sh && source benchmarks/verl_setup.sh && python3 benchmarks/verl_row.py ...
# transformers 5.9.0 (verl 0.9.1's pin) refuses the image's tokenizers 0.23.2 at import (it pins <=0.23.0);
# a patch release of tokenizers, so the pin is relaxed in that copy only.
set -euo pipefail
if [ ! -f /tmp/verl/.ready ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/verl .verl/*.whl
  sed -i 's/"tokenizers>=0.22.0,<=0.23.0"/"tokenizers>=0.22.0"/' /tmp/verl/transformers/dependency_versions_table.py
  touch /tmp/verl/.ready
fi
export PYTHONPATH=/tmp/verl:$PYTHONPATH
set +euo pipefail
