"""A wheel carries the Hydra configs, so an installed transfer_lab composes without the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_wheel_ships_the_configs_and_finds_them(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("transfer_lab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "transfer_lab/conf/config.yaml" in names
    assert "transfer_lab/conf/experiment/digits_beta.yaml" in names
    assert "hydra_plugins/transfer_lab_sweeper/sweeper.py" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-m", "transfer_lab", "+experiment=digits_beta", "--cfg", "job"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "fraction: 0.05" in done.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import transfer_lab.config.paths as p; print(p.config_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip() == str(site / "transfer_lab" / "conf")
