"""LogME (You et al., ICML 2021): the maximised evidence of a Bayesian linear model on features.

For each class c, the one-hot column y = [label == c] is modelled as y = F w + noise with prior
w ~ N(0, α⁻¹ I) and noise ~ N(0, β⁻¹ I). The log evidence p(y | F, α, β) is maximised over α, β
by MacKay's fixed-point updates; LogME is the maximum divided by n, averaged over classes.
Everything is computed in the eigenbasis of FᵀF (one SVD of F per feature set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transfer_lab.transferability.measure import Measure


@dataclass(frozen=True)
class Spectrum:
    """F = U diag(s) Vᵀ (thin SVD), kept with F's shape."""

    u: np.ndarray
    s: np.ndarray
    n: int
    d: int

    @classmethod
    def of(cls, features: np.ndarray) -> Spectrum:
        features = np.asarray(features, dtype=np.float64)
        u, s, _ = np.linalg.svd(features, full_matrices=False)
        return cls(u=u, s=s, n=features.shape[0], d=features.shape[1])


def _terms(spectrum: Spectrum, y: np.ndarray, alpha: float, beta: float):
    """(γ, mᵀm, ‖F m − y‖², log|A|) at α, β, with A = αI + βFᵀF and m = βA⁻¹Fᵀy."""
    sigma = spectrum.s**2
    z = spectrum.u.T @ y  # y's coordinates in F's column space
    outside = max(float(y @ y - z @ z), 0.0)  # the part of y no weights can reach
    denom = alpha + beta * sigma
    gamma = float(np.sum(beta * sigma / denom))
    mm = float(np.sum((beta * spectrum.s * z / denom) ** 2))
    residual = float(np.sum((alpha * z / denom) ** 2)) + outside
    logdet = float(np.sum(np.log(denom))) + (spectrum.d - len(sigma)) * np.log(alpha)
    return gamma, mm, residual, logdet


def log_evidence(spectrum: Spectrum, y: np.ndarray, alpha: float, beta: float) -> float:
    """log p(y | F, α, β) of Bayesian linear regression (Bishop 2006, eq. 3.86)."""
    n, d = spectrum.n, spectrum.d
    _, mm, residual, logdet = _terms(spectrum, y, alpha, beta)
    return (
        0.5 * n * np.log(beta)
        + 0.5 * d * np.log(alpha)
        - 0.5 * n * np.log(2 * np.pi)
        - 0.5 * beta * residual
        - 0.5 * alpha * mm
        - 0.5 * logdet
    )


def interpolates(spectrum: Spectrum, rtol: float = 1e-10) -> bool:
    """Whether F has rank n, so that some weights fit any y exactly (no noise needed)."""
    s = spectrum.s
    return len(s) == spectrum.n and s.min() > rtol * s.max()


def noiseless_evidence(spectrum: Spectrum, y: np.ndarray) -> tuple[float, float]:
    """(α, evidence) in the limit β → ∞ for features of rank n: y ~ N(0, α⁻¹FFᵀ).

    With q = yᵀ(FFᵀ)⁻¹y, the evidence −n/2·log 2π − ½·log|FFᵀ| + n/2·log α − αq/2 is largest at
    α = n/q.
    """
    n = spectrum.n
    sigma = spectrum.s**2
    z = spectrum.u.T @ y
    q = float(np.sum(z**2 / sigma))
    alpha = n / q
    evidence = (
        -0.5 * n * np.log(2 * np.pi)
        - 0.5 * float(np.sum(np.log(sigma)))
        + 0.5 * n * np.log(alpha)
        - 0.5 * alpha * q
    )
    return alpha, evidence


def fit_evidence(
    spectrum: Spectrum, y: np.ndarray, max_iter: int = 200, rtol: float = 1e-8
) -> tuple[float, float, float]:
    """(α, β, log evidence) at the fixed point α = γ/mᵀm, β = (n − γ)/‖Fm − y‖², from α = β = 1.

    When F has rank n (as many features as examples, or more) the evidence may grow without
    bound in β: the fixed point then drives γ to n and β to infinity, and the supremum is the
    noiseless limit, returned with β = inf.
    """
    y = np.asarray(y, dtype=np.float64)
    alpha, beta = 1.0, 1.0
    tiny = np.finfo(np.float64).tiny
    for _ in range(max_iter):
        gamma, mm, residual, _ = _terms(spectrum, y, alpha, beta)
        if spectrum.n - gamma < 1e-6 * spectrum.n and interpolates(spectrum):
            alpha, evidence = noiseless_evidence(spectrum, y)
            return alpha, float("inf"), evidence
        new_alpha = gamma / max(mm, tiny)
        new_beta = (spectrum.n - gamma) / max(residual, tiny)
        done = abs(new_alpha - alpha) <= rtol * alpha and abs(new_beta - beta) <= rtol * beta
        alpha, beta = new_alpha, new_beta
        if done:
            break
    return alpha, beta, log_evidence(spectrum, y, alpha, beta)


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes of the maximised log evidence per example (higher transfers better)."""
    spectrum = Spectrum.of(features)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    scores = [fit_evidence(spectrum, (labels == c).astype(np.float64))[2] for c in classes]
    return float(np.mean(scores) / spectrum.n)


MEASURE = Measure("logme", "LogME", logme)
