"""TransRate (Huang et al., ICML 2022): mutual information of features and labels via coding rates.

The coding rate R(Z, ε) = ½ log det(I + d/(n ε²) ZᵀZ) is the number of nats needed to encode
n centred d-dimensional features up to distortion ε; TransRate = R(Z, ε) − Σ_c (n_c/n) R(Z_c, ε),
the rate of all features minus the rate given the class — large when the whole set is spread out
(complete) and each class is compact. Features are centred and scaled to unit mean squared norm
first, so that one ε means the same distortion at every stage, whatever its activation scale.
"""

from __future__ import annotations

import numpy as np

from transfer_lab.transferability.measure import Measure


def coding_rate(z: np.ndarray, eps: float) -> float:
    """½ log det(I + d/(n ε²) ZᵀZ) for the rows of z (computed from ZᵀZ or ZZᵀ, the smaller)."""
    n, d = z.shape
    gram = z.T @ z if d <= n else z @ z.T  # same non-zero eigenvalues
    scale = d / (n * eps**2)
    _, logdet = np.linalg.slogdet(np.eye(len(gram)) + scale * gram)
    return 0.5 * float(logdet)


def normalise(features: np.ndarray) -> np.ndarray:
    """Centred, with mean squared row norm 1 (all-constant features stay zero)."""
    z = np.asarray(features, dtype=np.float64)
    z = z - z.mean(axis=0)
    norm = np.sqrt(np.mean(np.sum(z**2, axis=1)))
    return z / norm if norm > 0 else z


def transrate(features: np.ndarray, labels: np.ndarray, eps: float = 0.1) -> float:
    """R(Z, ε) − R(Z, ε | Y) on normalised features (higher transfers better; ≥ 0)."""
    z = normalise(features)
    labels = np.asarray(labels)
    n = len(z)
    conditional = sum(
        (np.sum(labels == c) / n) * coding_rate(z[labels == c], eps) for c in np.unique(labels)
    )
    return coding_rate(z, eps) - conditional


MEASURE = Measure("transrate", "TransRate (nats)", transrate)
