"""The results pages' numbers reproduce: one documented command, rerun, gives the documented
numbers to the digits given (docs/results/digits.md, the split seed 0 cut of its sweep)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from transfer_lab.report.collect import collect

DIGITS = Path(__file__).resolve().parents[1] / "docs" / "results" / "digits.md"


@pytest.mark.slow
def test_the_documented_digits_cut_reproduces_to_the_digits_given(cli):
    import torch

    found = re.search(r"gives A1B (\d+\.\d\d)%, A4B (\d+\.\d\d)%", DIGITS.read_text())
    assert found, "docs/results/digits.md no longer states the split seed 0 cut's numbers"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as documented: the thread count changes the last digits
    try:
        cli(["+experiment=digits_yosinski", "sweep", "transfer.arm=A1B,A4B", "data.split_seed=0"])
    finally:
        torch.set_num_threads(threads)
    (sweep,) = [p.parent for p in cli.cwd.glob("multirun/*/*/multirun.yaml")]
    jobs = collect(sweep).set_index("label")
    measured = [f"{100 * jobs.loc[arm, 'target_test_acc']:.2f}" for arm in ("A1B", "A4B")]
    assert measured == [found.group(1), found.group(2)]
