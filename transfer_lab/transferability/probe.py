"""Linear-probe accuracy: how well a linear classifier on frozen features does (Alain & Bengio 2016)."""

from __future__ import annotations

import numpy as np

from transfer_lab.transferability.measure import PROBE, Measure


def linear_probe_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    c: float = 1.0,
    max_iter: int = 1000,
) -> float:
    """Fit a multinomial logistic regression on standardised training features; score on val.

    The closest cheap stand-in for "freeze stages 1..n and train a new top": it sees only B's
    training budget and is scored on B's validation images, never the test set.
    """
    # scikit-learn here, not above: the report imports this module for the measure's name
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(train_features, train_labels)
    return float(probe.score(val_features, val_labels))


MEASURE = Measure("probe", "linear probe accuracy (B val)", linear_probe_accuracy, PROBE)
