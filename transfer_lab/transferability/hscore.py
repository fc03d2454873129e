"""H-score (Bao et al., ICIP 2019), with the shrinkage of Ibrahim et al. (2022, "Newer is not always better").

H(f) = tr(cov(f)⁻¹ cov(E[f | y])): how much of the features' spread lies between the classes
rather than within them. With few examples per dimension cov(f) is badly estimated, so Ibrahim
et al. replace it by the Ledoit–Wolf shrinkage estimate cov_α(f) = (1 − α)·cov(f) + α·μ·I (μ the
mean variance) and scale the numerator by (1 − α) to match.
"""

from __future__ import annotations

import numpy as np


def ledoit_wolf_shrinkage(features: np.ndarray) -> float:
    """Ledoit & Wolf's (2004) optimal weight α ∈ [0, 1] of the scaled identity."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    n, d = x.shape
    cov = x.T @ x / n
    mu = np.trace(cov) / d
    distance = float(np.sum((cov - mu * np.eye(d)) ** 2))  # how far cov is from μI
    if distance == 0:
        return 0.0
    spread = (float(np.sum(np.sum(x**2, axis=1) ** 2)) / n - float(np.sum(cov**2))) / n
    return min(spread, distance) / distance


def class_means(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row replaced by the mean of its class: the sample of E[f | y]."""
    labels = np.asarray(labels)
    out = np.empty_like(features, dtype=np.float64)
    for c in np.unique(labels):
        rows = labels == c
        out[rows] = features[rows].mean(axis=0)
    return out


def h_score(features: np.ndarray, labels: np.ndarray, shrinkage: float | None = None) -> float:
    """tr(cov_α(f)⁻¹ (1 − α) cov(E[f|y])); α = None estimates it (Ledoit–Wolf), 0 is Bao's original."""
    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(axis=0)
    n, d = f.shape
    alpha = ledoit_wolf_shrinkage(f) if shrinkage is None else float(shrinkage)
    cov_f = f.T @ f / n
    g = class_means(f, labels)
    cov_g = g.T @ g / n
    if alpha > 0:
        mu = np.trace(cov_f) / d
        cov_f = (1 - alpha) * cov_f + alpha * mu * np.eye(d)
        cov_g = (1 - alpha) * cov_g
    return float(np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g))
