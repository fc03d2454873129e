"""H-score (Bao et al., ICIP 2019), with the shrinkage of Ibrahim et al. (2022, "Newer is not always better").

H(f) = tr(cov(f)⁻¹ cov(E[f | y])): how much of the features' spread lies between the classes
rather than within them. With few examples per dimension cov(f) is badly estimated, so Ibrahim
et al. replace it by the Ledoit–Wolf shrinkage estimate cov_α(f) = (1 − α)·cov(f) + α·μ·I (μ the
mean variance) and scale the numerator by (1 − α) to match.

Everything is computed from one thin SVD of the centred features, F = U S Vᵀ: cov(f) has the
eigenvalues s²/n along V (and 0 elsewhere), and the class means lie in F's row space, so the
trace is a sum over F's singular directions — no d × d matrix is formed or inverted.
"""

from __future__ import annotations

import numpy as np

from transfer_lab.transferability.measure import Measure


def centred(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    return f - f.mean(axis=0)


def ledoit_wolf_shrinkage(features: np.ndarray) -> float:
    """Ledoit & Wolf's (2004) optimal weight α ∈ [0, 1] of the scaled identity."""
    x = centred(features)
    n, d = x.shape
    eigenvalues = np.linalg.svd(x, compute_uv=False) ** 2 / n  # of cov = xᵀx/n (the rest are 0)
    mu = eigenvalues.sum() / d
    # ‖cov − μI‖²_F, with the d − k zero eigenvalues each contributing μ²
    distance = float(np.sum((eigenvalues - mu) ** 2) + (d - len(eigenvalues)) * mu**2)
    if distance <= 1e-12 * max(float(np.sum(eigenvalues**2)), np.finfo(float).tiny):
        return 0.0  # cov is already a multiple of the identity
    # (1/n²) Σ_k ‖x_k x_kᵀ − cov‖²_F = (Σ_k ‖x_k‖⁴ / n − ‖cov‖²_F) / n
    spread = (float(np.sum(np.sum(x**2, axis=1) ** 2)) / n - float(np.sum(eigenvalues**2))) / n
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
    """tr(cov_α(f)⁻¹ (1 − α) cov(E[f|y])); α = None estimates it (Ledoit–Wolf), 0 is Bao's original.

    With α = 0, cov(f)⁻¹ is the pseudo-inverse (directions without variance are left out).
    """
    f = centred(features)
    n, d = f.shape
    alpha = ledoit_wolf_shrinkage(f) if shrinkage is None else float(shrinkage)
    _, s, vt = np.linalg.svd(f, full_matrices=False)
    eigenvalues = s**2 / n
    g = class_means(f, labels) @ vt.T  # class means in F's singular directions
    between = np.sum(g**2, axis=0) / n  # diagonal of Vᵀ cov(E[f|y]) V
    if alpha > 0:
        mu = eigenvalues.sum() / d
        shrunk = (1 - alpha) * eigenvalues + alpha * mu
        return float((1 - alpha) * np.sum(between / shrunk))
    kept = eigenvalues > 1e-12 * eigenvalues.max() if len(eigenvalues) else eigenvalues > 0
    return float(np.sum(between[kept] / eigenvalues[kept]))


MEASURE = Measure("hscore", "H-score (shrinkage)", h_score)
