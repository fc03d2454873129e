"""The results pages' numbers reproduce: one documented command, rerun, gives the documented
numbers to the digits given (docs/results/digits.md: a pair of the demo, and the split seed 0
cut of the measures sweep), on one thread and the CPU kernels the page names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from transfer_lab.report.collect import collect

DIGITS = Path(__file__).resolve().parents[1] / "docs" / "results" / "digits.md"


def rerun_on_one_thread(cli, arguments: list[str], kernels: str):
    """The documented sweep on one thread, as the page made it; skipped (saying why) where the
    CPU kernels differ from the page's: there the last bits, and so the digits, do too."""
    import torch

    from transfer_lab.machine import cpu_kind

    if cpu_kind() != kernels:
        pytest.skip(f"the page's numbers came from CPU kernels {kernels}, here {cpu_kind()}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as documented: the thread count changes the last digits
    try:
        cli(arguments)
    finally:
        torch.set_num_threads(threads)
    (sweep,) = [p.parent for p in cli.cwd.glob("multirun/*/*/multirun.yaml")]
    return collect(sweep)


@pytest.mark.slow
def test_the_documented_demo_pair_reproduces_to_the_digits_given(cli):
    found = re.search(
        r"one thread, CPU kernels\n`([^`]+)`:\n`… (\+experiment=digits_beta sweep [^`]+)`\) "
        r"gives β = 0 "
        r"(\d+\.\d\d)%,\nβ = 0.4 (\d+\.\d\d)%",
        DIGITS.read_text(),
    )
    assert found, "docs/results/digits.md no longer states the demo pair's numbers"
    kernels, command, *quoted = found.groups()
    jobs = rerun_on_one_thread(cli, command.split(), kernels).set_index("beta")
    measured = [f"{100 * jobs.loc[beta, 'target_test_acc']:.2f}" for beta in (0.0, 0.4)]
    assert measured == quoted


@pytest.mark.slow
def test_the_documented_digits_cut_reproduces_to_the_digits_given(cli):
    text = DIGITS.read_text()
    found = re.search(
        r"one thread, CPU kernels\n`([^`]+)`, 21 s wall:.*?gives A1B (\d+\.\d\d)%, A4B (\d+\.\d\d)%",
        text,
        re.S,
    )
    assert found, "docs/results/digits.md no longer states the split seed 0 cut's numbers"
    kernels, *quoted = found.groups()
    arguments = [
        "+experiment=digits_yosinski",
        "sweep",
        "transfer.arm=A1B,A4B",
        "data.split_seed=0",
    ]
    jobs = rerun_on_one_thread(cli, arguments, kernels).set_index("label")
    measured = [f"{100 * jobs.loc[arm, 'target_test_acc']:.2f}" for arm in ("A1B", "A4B")]
    assert measured == quoted
