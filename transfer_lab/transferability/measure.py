"""One record per transferability measure, declared beside its estimator: its name (the key in
results.json and the report's column), its title in tables and figures, its function, and what
that function reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

FEATURES = "features"  # fn(features, labels) on B's training budget, at every stage
PROBE = "probe"  # fn(features, labels, held-out features, held-out labels), at every stage
OUTPUT = "output"  # fn(source head's probabilities, labels): once per source, not per stage
NETWORKS = "networks"  # fn(features of one network, of another) on the same images


@dataclass(frozen=True)
class Measure:
    name: str
    title: str
    fn: Callable[..., float]
    reads: str = FEATURES

    @property
    def per_stage(self) -> bool:
        return self.reads in (FEATURES, PROBE)
