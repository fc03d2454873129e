"""Which configuration is each configuration's baseline, and the paired statistics against it.

Three kinds of comparison, each made only when the sweep holds both sides:

- **β vs β=0**: a configuration with β > 0 against the same configuration with β = 0 (all
  other design values equal; if none has the same K, the only β = 0 configuration that differs
  in K alone).
- **vs baseB**: every transferred, selffer or random-frozen network against scratch training
  (baseB) with the same target-side settings (data budget and every other swept key that
  scratch uses). With a data-budget sweep this is transfer against scratch at each budget.
- **AnB vs BnB**: a transferred network against the selffer with the same n, freezing and β:
  Yosinski's measure of how specific the copied layers are to A.

A pair is one replicate (split seed and training seed) that both sides finished. Replicates
only one side has are left out and counted, never filled in.

A *family* is every comparison a figure or table reads at once: one kind, one metric, one arm
family (AnB+, BnB, …) and every other setting fixed, across all its depths, all the study's
budgets and, against β = 0, all its β values (`holm_family`, with its size `holm_m`). Its
p-values are also given Holm-adjusted (`p_t_holm`, `p_wilcoxon_holm`), since the smallest of
several raw p-values is small by chance more often than one is.

Each row also says the smallest difference it could detect (`detectable`, 80% power at
α = 0.05, from the observed spread of its differences) and whether it is a first look
(`first_look`: fewer than FEW_PAIRS pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from transfer_lab.report.collect import METRICS, SOURCE_ONLY, TREATMENT_COLUMNS
from transfer_lab.report.statistics import FEW_PAIRS, Paired, holm, paired
from transfer_lab.report.summary import Configuration, format_value, missing
from transfer_lab.transfer import arms

BETA, BASEB, SPECIFICITY = "β vs β=0", "vs baseB", "AnB vs BnB"
KINDS = (BETA, BASEB, SPECIFICITY)
# The design values a Holm family spans: an arm family's depths and a study's data budgets.
SPANNED = ("label", "depth", "fraction", "per_class")


@dataclass(frozen=True)
class Comparison:
    kind: str
    config: Configuration
    baseline: Configuration

    def shared(self, metric: str) -> list[tuple]:
        """The replicates (split seed, seed) both sides finished with this metric."""
        return sorted(set(self.config.metric(metric)) & set(self.baseline.metric(metric)), key=str)

    def stats(self, metric: str) -> Paired | None:
        """Paired statistics of config − baseline over the shared replicates; None if none."""
        shared = self.shared(metric)
        if not shared:
            return None
        mine, theirs = self.config.metric(metric), self.baseline.metric(metric)
        return paired([mine[k] for k in shared], [theirs[k] for k in shared])


def holm_family(comparison: Comparison, columns: list[str]) -> str:
    """The family a comparison is adjusted in: its kind, its arm family and every design value
    of `columns` it does not span (against β = 0 the β values are spanned too)."""
    spanned = {*SPANNED, "family", *(("beta",) if comparison.kind == BETA else ())}
    values = comparison.config.values
    parts = [comparison.kind, str(values.get("family") or "")]
    parts += [
        f"{c}={format_value(values.get(c))}"
        for c in columns
        if c not in spanned and not missing(values.get(c))
    ]
    return " · ".join(p for p in parts if p)


def find(found: list[Comparison], kind: str, config: Configuration) -> Comparison | None:
    """The comparison of this kind for the configuration with these design values, if any."""
    return next((c for c in found if c.kind == kind and c.config.values == config.values), None)


def same(a: Any, b: Any) -> bool:
    return (missing(a) and missing(b)) or (not missing(a) and not missing(b) and a == b)


def agrees(a: Configuration, b: Configuration, columns: list[str], ignore: set[str]) -> bool:
    return all(same(a.values.get(c), b.values.get(c)) for c in columns if c not in ignore)


def beta_baseline(config: Configuration, configs: list[Configuration], columns: list[str]):
    beta = config.values.get("beta")
    if missing(beta) or beta == 0:
        return None
    zero = [c for c in configs if c.values.get("beta") == 0 and not missing(c.values.get("beta"))]
    exact = [c for c in zero if agrees(config, c, columns, {"beta"})]
    if exact:
        return exact[0]
    loose = [c for c in zero if agrees(config, c, columns, {"beta", "binary_heads"})]
    return loose[0] if len(loose) == 1 else None


def scratch_columns_ignored(columns: list[str]) -> set[str]:
    """Columns that do not apply to scratch training: treatment, source and transfer settings."""
    return {
        *TREATMENT_COLUMNS,
        *SOURCE_ONLY,
        *(c for c in columns if c.startswith(("source.", "transfer."))),
    }


def scratch_baseline(config: Configuration, configs: list[Configuration], columns: list[str]):
    if config.values.get("treatment") in (None, arms.SCRATCH):
        return None
    ignore = scratch_columns_ignored(columns)
    found = [
        c
        for c in configs
        if c.values.get("treatment") == arms.SCRATCH and agrees(config, c, columns, ignore)
    ]
    return found[0] if len(found) == 1 else None


def selffer_baseline(config: Configuration, configs: list[Configuration], columns: list[str]):
    baseline = arms.SPECIFICITY_BASELINE.get(config.values.get("treatment"))
    if baseline is None:
        return None
    ignore = {"treatment", "label", "family"}
    found = [
        c
        for c in configs
        if c.values.get("treatment") == baseline and agrees(config, c, columns, ignore)
    ]
    return found[0] if len(found) == 1 else None


def comparisons(configs: list[Configuration], columns: list[str]) -> list[Comparison]:
    """Every (configuration, baseline) pair the sweep supports, grouped by kind."""
    found = []
    for kind, rule in (
        (BETA, beta_baseline),
        (BASEB, scratch_baseline),
        (SPECIFICITY, selffer_baseline),
    ):
        for config in configs:
            baseline = rule(config, configs, columns)
            if baseline is not None and baseline is not config:
                found.append(Comparison(kind, config, baseline))
    return found


def paired_table(found: list[Comparison], name_columns: list[str]) -> pd.DataFrame:
    """One row per comparison and metric with both sides present: the paired statistics."""
    rows = []
    for comparison in found:
        for metric in METRICS:
            result = comparison.stats(metric)
            if result is None:
                continue
            shared = comparison.shared(metric)
            mine = comparison.config.metric(metric)
            theirs = comparison.baseline.metric(metric)
            only = sorted({k[0] for k in set(mine) ^ set(theirs)}, key=str)
            rows.append(
                {
                    "comparison": comparison.kind,
                    "holm_family": holm_family(comparison, name_columns),
                    "config": comparison.config.name(name_columns),
                    "baseline": comparison.baseline.name(name_columns),
                    "metric": metric,
                    **{f"config.{c}": comparison.config.values.get(c) for c in name_columns},
                    "pairs": result.n,
                    "split_seeds": " ".join(str(k[0]) for k in shared),
                    "unpaired_split_seeds": " ".join(map(str, only)),
                    "first_look": result.n < FEW_PAIRS,
                    **{k: v for k, v in result.as_dict().items() if k != "n"},
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    family = table.groupby(["holm_family", "metric"], sort=False)
    for column in ("p_t", "p_wilcoxon"):  # each beside its raw p
        adjusted = family[column].transform(lambda p: holm(p.to_numpy()))
        table.insert(table.columns.get_loc(column) + 1, f"{column}_holm", adjusted)
    table.insert(
        table.columns.get_loc("holm_family") + 1, "holm_m", family["p_t"].transform("count")
    )
    table.insert(table.columns.get_loc("ci_high") + 1, "detectable", table.pop("detectable"))
    # differences of two accuracies lie in [−1, 1]; a t-interval from few pairs may not
    table[["ci_low", "ci_high"]] = table[["ci_low", "ci_high"]].clip(-1.0, 1.0)
    return table
