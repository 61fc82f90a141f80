"""Writes the bundled example data (examples/data/*.npy): a small simulated experiment with a known
answer, used by scripts/demo.sh. Run with Debian's python3; the output is committed.

- features_model_a.npy, features_model_b.npy: 200 stimuli x 1000 features of two "models".
- responses.npy: 200 stimuli x 3 repetitions x 400 voxels. Voxels are noisy linear read-outs of a
  12-dimensional latent that model A's features contain and model B's do not (B sees only 3 of the
  12 latent dimensions), with voxel-specific signal-to-noise; 5 % of repetitions are missing (NaN).
The planted answer: model A predicts the voxels and their RSM better than model B.
"""
import os

import numpy as np

rng = np.random.default_rng(2024)
n, p, v, r, d = 200, 1000, 400, 3, 12
latent = rng.standard_normal((n, d))
mix_a = rng.standard_normal((d, p)) / np.sqrt(d)
feat_a = np.tanh(latent @ mix_a) + 0.3 * rng.standard_normal((n, p))
mix_b = rng.standard_normal((3, p)) / np.sqrt(3)
feat_b = np.tanh(latent[:, :3] @ mix_b + 0.8 * rng.standard_normal((n, p)))
readout = rng.standard_normal((d, v)) / np.sqrt(d)
signal = latent @ readout
snr = rng.uniform(0.1, 1.5, v)  # signal sd / noise sd per voxel
noise_sd = signal.std(axis=0) / snr
responses = signal[:, None, :] + noise_sd[None, None, :] * rng.standard_normal((n, r, v))
responses[rng.random((n, r)) < 0.05] = np.nan

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
os.makedirs(out, exist_ok=True)
np.save(os.path.join(out, "features_model_a.npy"), feat_a.astype(np.float32))
np.save(os.path.join(out, "features_model_b.npy"), feat_b.astype(np.float32))
np.save(os.path.join(out, "responses.npy"), responses.astype(np.float32))
np.save(os.path.join(out, "true_ncsnr.npy"), snr)
