"""The paper experiments' last recipe points: precision, which source weights are copied, the
statistic each study reports and the epochs tested for it, ImageNet-100's evaluation crop.

Sources (docs/fidelity.md cites the lines): matham/cs6784_2017 at 203ac64 (`train.py`,
`data/data_extract.py`, `data/paper/*.csv`, `saved_results/readme.txt`) and
yosinski/convnet_transfer at 9838c27 (`README.md`, `plots/transfer_plots.ipynb`).
"""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.conftest import compose
from transfer_lab.data.augment import imagenet_transforms
from transfer_lab.test_epochs import epochs_to_test

CS6784 = [
    "densenet_beta",
    "densenet_beta_k4",
    "densenet_beta_k10",
    "wrn_beta",
    "imagenet100_beta",
    "freeze_depth",
    "long_tail",
    "ood_transfer",
    "natural_manmade",
]
YOSINSKI = ["yosinski", "cifar100_transferability"]
PAPER_EXPERIMENTS = [*CS6784, *YOSINSKI, "fashion_fraction"]


def experiment(name: str, *overrides: str):
    cfg = compose([f"+experiment={name}", *overrides])
    OmegaConf.resolve(cfg.source)
    OmegaConf.resolve(cfg.target)
    return cfg


@pytest.mark.parametrize("name", PAPER_EXPERIMENTS)
@pytest.mark.parametrize("trainer", [None, "trainer=gpu"])
def test_every_paper_experiment_trains_in_fp32(name, trainer):
    """Both originals trained in fp32; `auto` would pick bf16 on any recent GPU."""
    cfg = experiment(name, *([trainer] if trainer else []))
    assert cfg.trainer.precision == "32-true"


@pytest.mark.parametrize("name", ["digits_beta", "digits_yosinski", "digits_fraction"])
def test_offline_studies_keep_automatic_precision(name):
    assert experiment(name).trainer.precision == "auto"


@pytest.mark.parametrize(
    "name,select",
    [*((n, "best") for n in CS6784), *((n, "last") for n in YOSINSKI), ("digits_yosinski", "last")],
)
def test_source_select_per_experiment(name, select):
    """Yosinski's transfer networks load the final snapshot (README line 123); CS6784's B loads
    A's best-test-error checkpoint (train.py 670-674, 681), which we choose on validation."""
    assert experiment(name).source.select == select


@pytest.mark.parametrize("name", [n for n in CS6784 if n not in ("wrn_beta", "freeze_depth")])
def test_cs6784_experiments_report_the_last_epoch(name):
    """data_extract.py plots each per-epoch CSV's last row: B's and A's last-epoch test."""
    cfg = experiment(name)
    assert cfg.paper.statistic == "last"
    assert epochs_to_test(cfg.get("paper"), cfg.target, on_b=True) == [cfg.target.epochs]
    assert epochs_to_test(cfg.get("paper"), cfg.source, on_b=False) == [cfg.source.epochs]


def test_densenet_beta_tests_b_at_epoch_100_and_a_at_175():
    cfg = experiment("densenet_beta")
    assert epochs_to_test(cfg.get("paper"), cfg.target, on_b=True) == [100]
    assert epochs_to_test(cfg.get("paper"), cfg.source, on_b=False) == [175]


def test_wrn_reports_epoch_60():
    """The published WRN B curves have 60 rows (data/paper/wrn_B.csv), the run asked for 71."""
    cfg = experiment("wrn_beta")
    assert cfg.target.epochs == 71 and cfg.paper.epoch == 60
    assert epochs_to_test(cfg.get("paper"), cfg.target, on_b=True) == [60]
    assert epochs_to_test(cfg.get("paper"), cfg.source, on_b=False) == [112]  # paper.epoch is B's


def test_freeze_depth_tests_at_epochs_1_21_40():
    """plot_layer_files_summary plots indices 0, len // 2 and len - 1 of the 40 epochs."""
    cfg = experiment("freeze_depth")
    assert epochs_to_test(cfg.get("paper"), cfg.target, on_b=True) == [1, 21, 40]


@pytest.mark.parametrize("name", [*YOSINSKI, "digits_yosinski"])
def test_yosinski_experiments_report_the_mean_of_the_10_best(name):
    """get_mean_best with last_n = 10 over every test evaluation: so every epoch is tested."""
    cfg = experiment(name)
    assert cfg.paper.statistic == "mean_best" and cfg.paper.best_n == 10
    epochs = int(cfg.target.epochs)
    assert epochs_to_test(cfg.get("paper"), cfg.target, on_b=True) == list(range(1, epochs + 1))
    assert epochs_to_test(cfg.get("paper"), cfg.source, on_b=False) == list(
        range(1, cfg.source.epochs + 1)
    )


def test_yosinski_tests_all_179_epochs():
    cfg = experiment("yosinski")
    assert len(epochs_to_test(cfg.get("paper"), cfg.target, on_b=True)) == 179


def test_imagenet100_beta_evaluates_with_the_training_crop():
    """Their testTransform is RandomSizedCrop(224), ToTensor, Normalize: no flip (train.py
    332-337); the dataset's own default stays resize and centre crop."""
    cfg = experiment("imagenet100_beta")
    assert cfg.hydra.runtime.choices.data == "imagenet100_cs6784"
    assert cfg.data.reader.eval_crop == "train" and cfg.data.name == "imagenet100"
    assert compose(["data=imagenet100"]).data.reader.eval_crop == "center"
    # another dataset in its place takes none of it (the crop belongs to the ImageNet reader)
    assert "eval_crop" not in experiment("imagenet100_beta", "data=digits").data.reader
    mean, std = [0.5] * 3, [0.25] * 3
    _, evaluate = imagenet_transforms(mean, std, 224, 256, eval_crop="train")
    kinds = [type(t).__name__ for t in evaluate.transforms]
    assert kinds == ["RandomResizedCrop", "ToTensor", "Normalize"]
    assert evaluate.transforms[0].size == (224, 224)
    _, evaluate = imagenet_transforms(mean, std, 224, 256)
    assert [type(t).__name__ for t in evaluate.transforms][:2] == ["Resize", "CenterCrop"]


def test_an_unknown_evaluation_crop_is_refused(tmp_path):
    from transfer_lab.data.datasets.image_folder import load_image_folder
    from transfer_lab.errors import UserError

    with pytest.raises(UserError, match="eval_crop"):
        load_image_folder(str(tmp_path), eval_crop="middle")


def test_densenet121_offers_pytorch_0_3_s_defaults():
    """CS6784's DenseNet-121 has no init code, so it trained from PyTorch 0.3's defaults:
    U(±1/√fan_in) convolutions and BatchNorm scales from U(0, 1). Ours defaults to
    torchvision's recipe (He-normal, unit BatchNorm) and offers theirs."""
    from transfer_lab.models.registry import create_backbone

    theirs = create_backbone("densenet121", 3, 32, init="pytorch0.3")
    conv = theirs.stages["stem"].conv0.weight.detach()
    gamma = theirs.stages["stem"].norm0.weight.detach()
    bound = 1 / conv[0].numel() ** 0.5
    assert float(conv.abs().max()) <= bound
    assert float(conv.std()) == pytest.approx(bound / 3**0.5, rel=0.05)
    assert float(gamma.min()) >= 0 and float(gamma.max()) <= 1 and float(gamma.std()) > 0.2
    ours = create_backbone("densenet121", 3, 32)
    assert bool((ours.stages["stem"].norm0.weight == 1).all())
    assert experiment("imagenet100_beta").backbone.init == "torchvision"
    from transfer_lab.errors import UserError

    with pytest.raises(UserError, match="backbone.init"):
        create_backbone("densenet121", 3, 32, init="caffe")
