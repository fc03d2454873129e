"""Published numbers shipped with the package (anchors/, see its README) for figure overlays."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ANCHOR_DIR = Path(__file__).with_name("anchors")


def load(name: str) -> pd.DataFrame:
    """One anchor table by file stem, e.g. load("yosinski2014_figure2")."""
    path = ANCHOR_DIR / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"no anchor table {path.name} in {ANCHOR_DIR}")
    return pd.read_csv(path)


def yosinski_figure2() -> pd.DataFrame:
    """treatment, n, top1_accuracy, networks (ImageNet 500/500, Yosinski et al. 2014)."""
    return load("yosinski2014_figure2")


def cs6784_unpaired() -> pd.DataFrame:
    """beta, binary_heads, target_test_error_pct: one random split per row."""
    return load("cs6784_beta_unpaired")


def cs6784_paired() -> pd.DataFrame:
    """Per run: source and target test error (%) of the baseline and of β = 0.4 on its split."""
    return load("cs6784_beta_paired")


def cs6784_paired_by_split() -> pd.DataFrame:
    """One row per split: the paired runs averaged within their split first.

    Rows 3a–c and 14a–b repeat β = 0.4 on one split against that split's single baseline (they
    share its numbers), so the table's 9 rows are 6 independent pairs, not 9; a letter after a
    row's number marks such a repeat.
    """
    table = cs6784_paired()
    split = table["pair"].astype(str).str.replace(r"(?<=\d)[a-z]$", "", regex=True)
    errors = table.drop(columns="pair").groupby(split.rename("split"), sort=False).mean()
    return errors.reset_index()
