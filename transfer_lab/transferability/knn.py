"""k-nearest-neighbour readout accuracy: how well B's classes can be read from frozen features
by their neighbours alone, with no training at all.

Recent comparisons of transferability estimators find that this plain readout ranks sources as
well as or better than most estimators, so every estimator should be read beside it. Here: the
features are standardised with the statistics of B's training budget; each of B's validation
images takes the majority label of its k = 5 nearest training images (Euclidean distance; a tie
of votes goes to the nearest of the tied classes' neighbours); the score is the fraction of
validation images labelled right. k shrinks to the number of training images when they are fewer.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from transfer_lab.transferability.measure import PROBE, Measure

K = 5


def knn_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    k: int = K,
) -> float:
    """Accuracy on (val_features, val_labels) of a k-NN vote over the training features."""
    train = np.asarray(train_features, dtype=float)
    val = np.asarray(val_features, dtype=float)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0  # a constant feature carries no distance
    train, val = (train - mean) / std, (val - mean) / std
    labels = np.asarray(train_labels)
    k = max(1, min(int(k), len(train)))
    distances = cdist(val, train, "sqeuclidean")  # val × train, never val × train × features
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]  # nearest first
    predicted = np.empty(len(val), dtype=labels.dtype)
    for i, order in enumerate(nearest):
        votes = labels[order]
        classes, counts = np.unique(votes, return_counts=True)
        winners = set(classes[counts == counts.max()].tolist())
        predicted[i] = next(v for v in votes if v in winners)  # the nearest of the tied classes
    return float((predicted == np.asarray(val_labels)).mean())


MEASURE = Measure("knn", f"{K}-NN readout accuracy (B val)", knn_accuracy, PROBE)
