#!/usr/bin/env bash
# The specification's launch script; extra flags are passed through (e.g. --n_epochs 3).
set -euo pipefail
cd "$(dirname "$0")"
python vqvae_train.py \
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
