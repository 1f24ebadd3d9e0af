"""Training data: consecutive frame pairs of a target set in a deterministic order."""
from __future__ import annotations

import numpy as np


def pair_order(n_pairs: int, epoch: int, seed: int) -> np.ndarray:
    """The shuffled order of pair indices in one epoch: a pure function of (seed, epoch), so a
    resumed run sees exactly the pairs an uninterrupted one would."""
    return np.random.default_rng([seed, epoch]).permutation(n_pairs)


def batch_indices(iteration: int, batch_size: int, n_pairs: int, seed: int,
                  rank: int = 0, world_size: int = 1) -> np.ndarray:
    """Pair indices of one iteration's batch for one process: the global stream of shuffled
    epochs is cut into batches of ``batch_size * world_size``, each process taking its slice."""
    start = (iteration * world_size + rank) * batch_size
    out = []
    for k in range(start, start + batch_size):
        epoch, pos = divmod(k, n_pairs)
        out.append(pair_order(n_pairs, epoch, seed)[pos])
    return np.array(out)
