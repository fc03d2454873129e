"""NCE (Tran et al., ICCV 2019): negative conditional entropy of target labels given source labels.

Each target image gets the source class the source network predicts for it (its argmax, as
Nguyen et al. 2020 do when no source labels exist for target images); NCE = −H(Y | Z) from the
empirical joint of (z, y) counts. 0 means the source prediction determines the target label.
"""

from __future__ import annotations

import numpy as np

from transfer_lab.transferability.measure import OUTPUT, Measure


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """−H(Y | Z) = Σ_{z,y} P(z, y) log P(y | z), in nats."""
    z = np.asarray(source_labels)
    y = np.asarray(labels)
    _, z = np.unique(z, return_inverse=True)
    _, y = np.unique(y, return_inverse=True)
    counts = np.zeros((z.max() + 1, y.max() + 1))
    np.add.at(counts, (z, y), 1)
    joint = counts / len(y)
    given_z = joint / joint.sum(axis=1, keepdims=True)  # every row has a count, so no zero sums
    present = joint > 0
    return float(np.sum(joint[present] * np.log(given_z[present])))


def nce_from_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """NCE with each image's source label taken as the source head's most likely class."""
    return nce(np.argmax(probabilities, axis=1), labels)


MEASURE = Measure("nce", "NCE", nce_from_probabilities, OUTPUT)
