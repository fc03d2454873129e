"""Linear CKA (Kornblith et al., ICML 2019): how alike two representations of the same images are.

CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) for column-centred X (n × p) and Y (n × q). It is 1 for
identical representations and unchanged by orthogonal transforms and isotropic scaling of either,
so it compares layers of independently trained networks, whose units have no common order.
"""

from __future__ import annotations

import numpy as np

from transfer_lab.transferability.measure import NETWORKS, Measure


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two feature matrices whose rows are the same examples."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"CKA needs the same examples in both: {len(x)} rows against {len(y)}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    if len(x) < max(x.shape[1], y.shape[1]):  # fewer examples than features: n × n Gram matrices
        kx, ky = x @ x.T, y @ y.T
        cross = np.sum(kx * ky)  # = ‖YᵀX‖²_F
        norms = np.linalg.norm(kx) * np.linalg.norm(ky)  # = ‖XᵀX‖_F ‖YᵀY‖_F
    else:
        cross = np.sum((y.T @ x) ** 2)
        norms = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / norms) if norms > 0 else 0.0


def layerwise_cka(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """CKA between the same-named stages of two networks, in a's stage order."""
    return {name: linear_cka(a[name], b[name]) for name in a if name in b}


BASEB_MEASURE = Measure("cka_baseB", "linear CKA: baseA vs baseB", linear_cka, NETWORKS)
