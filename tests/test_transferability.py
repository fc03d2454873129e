"""Transferability estimators against cases whose answer is known by hand or in closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import multivariate_normal, ortho_group
from sklearn.covariance import LedoitWolf

from transfer_lab.models.lenet import LeNet
from transfer_lab.transferability.cka import layerwise_cka, linear_cka
from transfer_lab.transferability.features import extract, pool
from transfer_lab.transferability.hscore import h_score, ledoit_wolf_shrinkage
from transfer_lab.transferability.leep import empirical_joint, leep
from transfer_lab.transferability.logme import Spectrum, fit_evidence, log_evidence, logme
from transfer_lab.transferability.nce import nce, nce_from_probabilities
from transfer_lab.transferability.probe import linear_probe_accuracy
from transfer_lab.transferability.registry import MEASURES, OUTPUT, PER_STAGE
from transfer_lab.transferability.table import measure_features
from transfer_lab.transferability.transrate import coding_rate, transrate


def blobs(seed: int = 0, n_per_class: int = 40, classes: int = 3, dim: int = 6, spread=0.3):
    """Well-separated Gaussian classes: class c sits at 2·e_c plus small isotropic noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    centres = 2 * np.eye(classes, dim)
    return centres[labels] + spread * rng.standard_normal((len(labels), dim)), labels


@pytest.mark.parametrize("measure", [logme, h_score, transrate])
def test_separable_features_score_above_shuffled_labels(measure):
    x, y = blobs()
    shuffled = np.random.default_rng(1).permutation(y)
    assert measure(x, y) > measure(x, shuffled) + 0.1 * abs(measure(x, shuffled)) + 1e-6


def test_probe_is_near_perfect_on_separable_features_and_near_chance_on_shuffled():
    x, y = blobs()
    xv, yv = blobs(seed=2)
    rng = np.random.default_rng(3)
    assert linear_probe_accuracy(x, y, xv, yv) > 0.95
    assert linear_probe_accuracy(x, rng.permutation(y), xv, yv) < 0.7


def test_output_measures_prefer_informative_source_predictions():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    informative = np.full((90, 4), 0.05)
    informative[np.arange(90), y] = 0.85  # source class y predicts target class y
    shuffled = rng.permutation(y)
    assert leep(informative, y) > leep(informative, shuffled)
    assert nce_from_probabilities(informative, y) > nce_from_probabilities(informative, shuffled)


# --- LogME ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n, d", [(7, 3), (5, 8)])  # more examples than features, and fewer
def test_log_evidence_matches_the_gaussian_marginal_likelihood_at_the_fitted_alpha_beta(n, d):
    rng = np.random.default_rng(n * d)
    f = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(float)
    y[0], y[1] = 1.0, 0.0
    alpha, beta, evidence = fit_evidence(Spectrum.of(f), y)
    # y ~ N(0, β⁻¹I + α⁻¹FFᵀ) with the weights integrated out (Bishop 2006, §3.5.1)
    direct = multivariate_normal(np.zeros(n), np.eye(n) / beta + f @ f.T / alpha).logpdf(y)
    assert evidence == pytest.approx(direct, rel=1e-9, abs=1e-9)


def test_fitted_alpha_beta_maximise_the_evidence():
    rng = np.random.default_rng(5)
    f = rng.standard_normal((30, 4))
    y = (f[:, 0] + 0.5 * rng.standard_normal(30) > 0).astype(float)
    spectrum = Spectrum.of(f)
    alpha, beta, best = fit_evidence(spectrum, y)
    for da, db in [(1.2, 1), (0.8, 1), (1, 1.2), (1, 0.8), (1.1, 0.9)]:
        assert log_evidence(spectrum, y, alpha * da, beta * db) < best


def test_when_features_fit_the_labels_exactly_logme_takes_the_noiseless_limit():
    # Six examples, eight features with a strong class direction: the evidence keeps growing
    # with the noise precision β, so its supremum is the β → ∞ limit y ~ N(0, α⁻¹FFᵀ).
    rng = np.random.default_rng(2)
    y = np.array([1.0, 1, 1, 0, 0, 0])
    f = rng.standard_normal((6, 8)) + 3 * np.outer(y, rng.standard_normal(8))
    spectrum = Spectrum.of(f)
    alpha, beta, evidence = fit_evidence(spectrum, y)
    assert beta == np.inf
    direct = multivariate_normal(np.zeros(6), f @ f.T / alpha).logpdf(y)
    assert evidence == pytest.approx(direct, rel=1e-9)
    for a in (alpha / 2, alpha, 2 * alpha):
        for b in (1e2, 1e4, 1e6):
            assert log_evidence(spectrum, y, a, b) < evidence
    assert np.isfinite(logme(f, y))


def test_logme_is_the_mean_over_classes_of_evidence_per_example():
    x, y = blobs(n_per_class=10)
    spectrum = Spectrum.of(x)
    per_class = [fit_evidence(spectrum, (y == c).astype(float))[2] for c in range(3)]
    assert logme(x, y) == pytest.approx(np.mean(per_class) / len(y))


# --- LEEP and NCE ---------------------------------------------------------------------------


def test_leep_on_a_two_by_two_toy_equals_the_hand_computed_value():
    theta = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    # P(y, z) = [[1.5, 0.5], [0.5, 1.5]] / 4, so P(y | z) = [[.75, .25], [.25, .75]] and the
    # expected empirical predictor gives 0.7, 0.65, 0.55, 0.6 to the true labels.
    assert empirical_joint(theta, y) == pytest.approx(np.array([[1.5, 0.5], [0.5, 1.5]]) / 4)
    assert leep(theta, y) == pytest.approx(np.mean(np.log([0.7, 0.65, 0.55, 0.6])))


def test_nce_equals_minus_the_hand_computed_conditional_entropy():
    z = np.array([0, 0, 0, 1, 1, 1])
    y = np.array([0, 0, 1, 1, 1, 1])
    # z = 0: y is 0 twice and 1 once; z = 1: y is always 1. H(Y|Z) = ½·H(2/3, 1/3) + ½·0.
    h = 0.5 * -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
    assert nce(z, y) == pytest.approx(-h)
    assert nce(y, y) == 0.0  # the source label determines the target label
    independent = np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])
    assert nce(*independent) == pytest.approx(-np.log(2))  # nothing learnt: −H(Y)


# --- H-score --------------------------------------------------------------------------------


def two_class_toy(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Means (∓1, 0); within-class offsets (±a, ±b), all four per class.

    cov(f) = diag(1 + a², b²) and cov(E[f|y]) = diag(1, 0), so H = 1 / (1 + a²).
    """
    offsets = np.array([[a, b], [a, -b], [-a, b], [-a, -b]])
    f = np.concatenate([offsets + [-1, 0], offsets + [1, 0]])
    return f, np.repeat([0, 1], 4)


def test_h_score_on_a_toy_with_known_covariances():
    f, y = two_class_toy(a=0.5, b=2.0)
    assert h_score(f, y, shrinkage=0) == pytest.approx(1 / 1.25)
    alpha = 0.3
    mu = (1.25 + 4.0) / 2  # mean variance: the scale of the identity it shrinks towards
    shrunk = (1 - alpha) * 1 / ((1 - alpha) * 1.25 + alpha * mu)
    assert h_score(f, y, shrinkage=alpha) == pytest.approx(shrunk)


def test_ledoit_wolf_shrinkage_matches_scikit_learn():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 10)) @ rng.standard_normal((10, 10))
    assert ledoit_wolf_shrinkage(x) == pytest.approx(LedoitWolf().fit(x).shrinkage_)


def test_h_score_with_estimated_shrinkage_stays_finite_with_more_dimensions_than_examples():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 50))
    y = np.repeat([0, 1], 10)
    assert np.isfinite(h_score(x, y))


# --- TransRate ------------------------------------------------------------------------------


def test_transrate_on_a_toy_equals_the_hand_computed_rate_difference():
    # Class 0 on the x axis, class 1 on the y axis: centred, mean squared norm 1.
    f = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    y = np.array([0, 0, 1, 1])
    eps = 0.5
    e2 = eps**2
    # R(Z) = ½ log det((1 + 1/ε²) I₂); each class: ½ log(1 + 2/ε²), weighted ½ + ½.
    assert coding_rate(f, eps) == pytest.approx(np.log(1 + 1 / e2))
    expected = np.log(1 + 1 / e2) - 0.5 * np.log(1 + 2 / e2)
    assert transrate(f, y, eps=eps) == pytest.approx(expected)
    assert transrate(3 * f + 7, y, eps=eps) == pytest.approx(expected)  # centred and rescaled


def test_coding_rate_is_the_same_from_either_gram_matrix():
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((5, 9))
    rate = coding_rate(wide, 0.3)
    scale = 9 / (5 * 0.3**2)
    assert rate == pytest.approx(0.5 * np.linalg.slogdet(np.eye(9) + scale * wide.T @ wide)[1])


# --- CKA ------------------------------------------------------------------------------------


def test_cka_of_a_representation_with_itself_is_one():
    x = np.random.default_rng(0).standard_normal((50, 8))
    assert linear_cka(x, x) == pytest.approx(1.0)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 6))
    y = x @ rng.standard_normal((6, 4)) + 0.5 * rng.standard_normal((60, 4))
    base = linear_cka(x, y)
    q = ortho_group.rvs(6, random_state=2)
    assert 0 < base < 1
    assert linear_cka(x @ q, y) == pytest.approx(base)
    assert linear_cka(3.7 * x, 0.2 * y) == pytest.approx(base)
    assert linear_cka(x @ q * 5, y) == pytest.approx(base)


def test_cka_is_the_same_from_feature_or_gram_matrices():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((12, 30))  # fewer examples than features: the Gram form
    y = x[:, :5] @ rng.standard_normal((5, 3)) + rng.standard_normal((12, 3))
    xc, yc = x - x.mean(0), y - y.mean(0)
    by_features = np.sum((yc.T @ xc) ** 2) / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert linear_cka(x, y) == pytest.approx(by_features)


def test_h_score_with_more_dimensions_than_examples_matches_the_d_by_d_formula():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((15, 40))
    y = np.repeat([0, 1, 2], 5)
    f = x - x.mean(0)
    cov_f = f.T @ f / 15
    means = np.stack([f[y == c].mean(0) for c in y])
    cov_g = means.T @ means / 15
    alpha = 0.4
    mu = np.trace(cov_f) / 40
    shrunk = np.linalg.inv((1 - alpha) * cov_f + alpha * mu * np.eye(40))
    assert h_score(x, y, shrinkage=alpha) == pytest.approx(np.trace(shrunk @ cov_g) * (1 - alpha))
    plain = np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g)
    assert h_score(x, y, shrinkage=0) == pytest.approx(plain)


def test_cka_is_symmetric_and_low_for_unrelated_representations():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((500, 5)), rng.standard_normal((500, 5))
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))
    assert linear_cka(x, y) < 0.05
    assert layerwise_cka({"a": x, "b": y}, {"b": y, "a": x}) == pytest.approx({"a": 1, "b": 1})


# --- features and the per-stage table ---------------------------------------------------------


def test_extract_pools_every_stage_without_gradients_and_restores_the_mode():
    torch.manual_seed(0)
    net = LeNet(in_channels=1, image_size=8, channels=(4, 6), hidden=(10, 7))
    head = torch.nn.Linear(7, 3)
    net.train()
    images = torch.randn(10, 1, 8, 8)
    labels = torch.arange(10) % 3
    batches = [(images[:6], labels[:6]), (images[6:], labels[6:])]
    got = extract(net, batches, head=head, device="cpu")
    assert {k: v.shape for k, v in got.stages.items()} == {
        "conv1": (10, 4),
        "conv2": (10, 6),
        "fc1": (10, 10),
        "fc2": (10, 7),
    }
    assert net.training and head.training  # put back as they came
    net.eval()
    with torch.no_grad():
        conv1 = net.stages["conv1"](images)
        out = net(images)
    assert got.stages["conv1"] == pytest.approx(pool(conv1).double().numpy(), abs=1e-6)
    assert got.stages["fc2"] == pytest.approx(out.double().numpy(), abs=1e-6)
    assert got.probabilities.sum(axis=1) == pytest.approx(np.ones(10))
    assert got.labels.tolist() == labels.tolist()


def test_measure_features_gives_one_value_per_measure_per_stage():
    from transfer_lab.transferability.features import Features

    x, y = blobs()
    xv, yv = blobs(seed=1)
    noise = np.random.default_rng(0).standard_normal(x.shape)
    train = Features({"noise": noise, "good": x}, y, probabilities=np.eye(4)[y])
    val = Features({"noise": noise[: len(yv)], "good": xv}, yv)
    table = measure_features(train, val)
    assert table.stages == ["noise", "good"]
    assert list(table.per_stage) == [m.name for m in PER_STAGE]
    assert list(table.output) == [m.name for m in OUTPUT]
    for values in table.per_stage.values():
        assert len(values) == 2 and values[1] > values[0]  # every measure prefers the signal
    assert table.output == pytest.approx({"leep": 0.0, "nce": 0.0}, abs=1e-12)
    assert list(table.frame()["depth"]) == [1, 2]


@pytest.mark.slow
def test_measures_of_a_tiny_digits_source_on_b():
    """Train a small LeNet on digits A for three epochs, then measure it on B's budget."""
    from transfer_lab.data.datasets.digits import load_digits
    from transfer_lab.data.splits import make_task, split_classes
    from transfer_lab.transferability.table import measure_source, network_cka, task_batches

    images = load_digits()
    split = split_classes(10, 5, 5, split_seed=0)

    def task(classes):
        labels = images.train_labels.numpy(), images.test_labels.numpy()
        return make_task(*labels, classes, split_seed=0, val_fraction=0.1, fraction=0.5)

    a, b = task(split.source), task(split.target)
    served = list(task_batches(images, b, "train"))
    assert sum(len(y) for _, y in served) == len(b.train)
    assert set(torch.cat([y for _, y in served]).tolist()) == set(range(5))

    torch.manual_seed(0)
    backbone_cfg = {"name": "lenet", "channels": [8, 16], "hidden": [32, 16]}
    from transfer_lab.models.registry import backbone_from_config

    net = backbone_from_config(backbone_cfg, 1, 8)
    head = torch.nn.Linear(16, 5)
    optimizer = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(3):
        for x, y in task_batches(images, a, "train"):
            loss = torch.nn.functional.cross_entropy(head(net(x)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    table = measure_source(net, images, b, head=head, device="cpu")
    assert table.stages == ["conv1", "conv2", "fc1", "fc2"]
    for name, values in table.per_stage.items():
        assert len(values) == 4 and np.all(np.isfinite(values)), name
    assert min(table.per_stage["probe"]) > 0.4  # chance on B's five classes is 0.2
    assert table.output["leep"] < 0 and table.output["nce"] <= 0

    fresh = backbone_from_config(backbone_cfg, 1, 8)
    assert network_cka(net, net, images, b) == pytest.approx(dict.fromkeys(table.stages, 1.0))
    assert all(v < 0.95 for v in network_cka(net, fresh, images, b).values())


def test_every_declared_measure_reaches_the_report_under_its_title():
    """The table, the report's columns and the agreement read one list: a measure declared
    beside its estimator cannot drop out of agreement.csv for want of a title elsewhere."""
    from transfer_lab.report.measures_section import MEASURE_TITLES, measure_names

    names = [m.name for m in MEASURES]
    assert len(set(names)) == len(names) and {"probe", "logme", "leep"} <= set(names)
    for m in PER_STAGE:
        assert MEASURE_TITLES[m.name] == m.title
    table = pd.DataFrame({m.name: [0.5, 0.7] for m in PER_STAGE})
    assert measure_names(table) == [m.name for m in PER_STAGE]
