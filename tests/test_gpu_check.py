"""`make gpu-check` is ready for the day a GPU is lent: its dry run goes through every step."""

import json

import pytest
import torch

from benchmarks import gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is there: the full check would run")
def test_without_a_gpu_the_full_check_is_refused_in_one_sentence(tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dry-run" in err[0]
    assert not (tmp_path / "out.json").exists()


@pytest.mark.slow  # two fresh command-line jobs and two small sweeps
def test_the_dry_run_measures_every_step_and_writes_its_json(tmp_path):
    out = tmp_path / "check.json"
    assert gpu_check.main(["--dry-run", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["dry_run"] is True
    for backbone in ("wrn28_10", "densenet_bc"):
        for mode in ("bf16_channels_last", "fp32"):
            row = report[backbone][mode]
            assert row["transfer_lab_images_per_s"] > 0 and row["plain_images_per_s"] > 0
    assert report["fashion_job"]["epochs"] == [1, 1] and report["fashion_job"]["wall_s"] > 0
    assert report["parallel"]["workers"] == 2 and report["parallel"]["speedup"] > 0
