"""Under CI=true a skipped test that needs the real data or the cluster fails the run; elsewhere
it skips with its reason (tests/conftest.py, NEEDS_SETUP)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

NEEDS_DATA = """
import pytest

@pytest.mark.real_data
def test_needs_the_files():
    pytest.skip("the real Fashion-MNIST is not installed here")

@pytest.mark.slurm
@pytest.mark.skipif(True, reason="no cluster answers")
def test_needs_the_cluster():
    pass

def test_plain():
    pytest.skip("an ordinary skip stays a skip")
"""


# a skip in the test body fails it; a skipif mark skips in set-up, which then reads as an error
@pytest.mark.parametrize("ci, failed, errors, skipped", [("true", 1, 1, 1), ("", 0, 0, 3)])
def test_a_skip_that_ci_must_not_have_fails_there(
    pytester, monkeypatch, ci, failed, errors, skipped
):
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest("from tests.conftest import NEEDS_SETUP, pytest_runtest_makereport")
    pytester.makeini("[pytest]\nmarkers =\n    real_data: real files\n    slurm: a cluster\n")
    pytester.makepyfile(NEEDS_DATA)
    result = pytester.runpytest_inprocess("-q")
    result.assert_outcomes(failed=failed, errors=errors, skipped=skipped)
    assert (result.ret != 0) == bool(ci)
    if failed:
        result.stdout.fnmatch_lines(["*marked real_data was skipped under CI=true*not installed*"])
