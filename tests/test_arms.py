"""The arms' vocabulary is complete where it is used: every family the treatments can produce is
listed, ordered and drawn, and an arm's name reads back as the arm it names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO
from transfer_lab.report.figures.plotting import FAMILY_STYLE
from transfer_lab.transfer import arms
from transfer_lab.transfer.treatments import plan_treatment

STAGES = ["conv1", "conv2", "fc1", "fc2"]


def produced_families() -> set[str]:
    """Every family a plan can have: each treatment, frozen or not, wholly or partly frozen."""
    found = set()
    for treatment in arms.TREATMENTS:
        for freeze in (False, True):
            found.add(plan_treatment(treatment, 3, freeze, STAGES).family)
        found.add(plan_treatment(treatment, "all", False, STAGES, freeze_depth=2).family)
    return found


def test_every_family_a_treatment_produces_is_listed():
    assert produced_families() <= set(arms.FAMILIES)


@pytest.mark.parametrize("family", arms.FAMILIES)
def test_every_family_has_a_figure_style_and_words(family):
    """A family without a style would silently drop out of the depth and layers figures."""
    assert {"color", "marker"} <= set(FAMILY_STYLE[family])
    assert arms.FAMILY_WORDS[family].startswith(family.replace("randomnB", "random"))


def test_the_figure_families_are_families():
    for subset in (arms.YOSINSKI_FAMILIES, arms.COPIED_FAMILIES, arms.CURVES):
        assert set(subset) <= set(arms.FAMILIES)
    assert set(FAMILY_STYLE) == set(arms.FAMILIES)


@pytest.mark.parametrize("name", arms.arm_examples(4))
def test_an_arm_name_reads_back_as_itself(name):
    treatment, depth, freeze = arms.parse_arm(name)
    plan = plan_treatment(treatment, depth, freeze, STAGES)
    assert plan.label == name
    assert plan.family in arms.FAMILIES


def test_the_vocabulary_imports_no_torch():
    code = (
        "import sys\nimport transfer_lab.transfer.arms\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'torch']\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
