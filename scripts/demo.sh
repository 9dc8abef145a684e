#!/usr/bin/env bash
# Sets up Lensflow and runs the demo: the seed's training script tracked and registered in a
# local workspace (./lensflow-demo), through the real server over stdio.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python client-sample/python/demo.py --workspace "${1:-lensflow-demo}"
