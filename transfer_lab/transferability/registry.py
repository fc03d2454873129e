"""Every transferability measure a job computes, in the order results.json and the report list
them; the table, the report and the agreement all derive from this list."""

from __future__ import annotations

from transfer_lab.transferability import cka, hscore, knn, leep, logme, nce, probe, transrate
from transfer_lab.transferability.measure import Measure

MEASURES: tuple[Measure, ...] = (
    probe.MEASURE,
    knn.MEASURE,
    logme.MEASURE,
    hscore.MEASURE,
    transrate.MEASURE,
    leep.MEASURE,
    nce.MEASURE,
)
PER_STAGE = tuple(m for m in MEASURES if m.per_stage)
OUTPUT = tuple(m for m in MEASURES if not m.per_stage)
CKA_BASEB = cka.BASEB_MEASURE  # between the source and baseB, per stage: the report's column
