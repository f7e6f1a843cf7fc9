#!/usr/bin/env bash
# The specification's launch script; extra flags are passed through (e.g. --n_epochs 3).
set -euo pipefail
cd "$(dirname "$0")"
# The interpreter that has tsvq: $PYTHON if set, else this checkout's .venv (where the README's
# install puts it, so no environment needs activating), else python3, else python on PATH.
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then
        PYTHON=.venv/bin/python
    elif command -v python3 >/dev/null 2>&1; then
        PYTHON=python3
    else
        PYTHON=python
    fi
fi
exec "$PYTHON" vqvae_train.py \
    --dset ettm1 \
    --context_points 512 \
    --batch_size 64 \
    --embedding_dim 32 \
    --num_embeddings 256 \
    --compression_factor 4 \
    --n_epochs 100 \
    --lr 1e-4 \
    --save_path saved_models/vqvae_only/ \
    "$@"
