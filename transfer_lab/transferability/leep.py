"""LEEP (Nguyen et al., ICML 2020): how well the source head's outputs predict the target labels.

With θ(x) the source network's softmax over its classes z, the empirical joint P(y, z) =
(1/n) Σ_{i: y_i = y} θ(x_i)_z gives a conditional P(y | z); LEEP is the mean log-likelihood of
the "expected empirical predictor" Σ_z P(y_i | z) θ(x_i)_z. It reads the output layer only.
"""

from __future__ import annotations

import numpy as np

from transfer_lab.transferability.measure import OUTPUT, Measure


def empirical_joint(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """P(y, z) as a (target classes × source classes) array; target labels are 0..C−1."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    joint = np.zeros((int(labels.max()) + 1, probabilities.shape[1]))
    np.add.at(joint, labels, probabilities)
    return joint / len(labels)


def leep(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """(1/n) Σ_i log Σ_z P(y_i | z) θ(x_i)_z (≤ 0; closer to 0 transfers better)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    joint = empirical_joint(probabilities, labels)
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    predicted = probabilities @ conditional.T  # (n, target classes)
    return float(np.mean(np.log(predicted[np.arange(len(labels)), labels])))


MEASURE = Measure("leep", "LEEP", leep, OUTPUT)
