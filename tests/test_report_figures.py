"""The report's figures, read back through matplotlib's objects (legend texts, tick labels,
titles, where legends sit), not through pixels. Sweep folders are fixtures with made-up
accuracies (tests/test_report.py)."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tests.test_report import make_job, ok_results, report, treatments_sweep
from tests.test_report_measures import STAGES, measured_sweep
from transfer_lab.report.figures import beta, budget, depth, layers, plotting


@pytest.fixture
def drawn(monkeypatch) -> dict[str, Figure]:
    """Every figure the report draws, by file stem, drawn on Agg and never written."""
    figures: dict[str, Figure] = {}

    def keep(figure, out_dir, stem):
        FigureCanvasAgg(figure).draw()
        figures[stem] = figure
        return []

    for module in (beta, budget, depth, layers, plotting):
        monkeypatch.setattr(module, "save", keep)
    return figures


def beta_sweep(root, seeds: int):
    """β = 0 and 0.4 on `seeds` split seeds, in a folder named as Hydra names a sweep's."""
    sweep = root / "2026-12-02" / "01-13-26"
    for number, (beta_value, split_seed) in enumerate(
        (b, s) for b in (0.0, 0.4) for s in range(seeds)
    ):
        make_job(
            sweep,
            number,
            [f"model.beta={beta_value:g}", f"data.split_seed={split_seed}"],
            ok_results(
                0.8 + 0.02 * split_seed + beta_value / 20, split_seed=split_seed, beta=beta_value
            ),
        )
    return sweep


def legend_titles(figure: Figure) -> list[str]:
    return [ax.get_legend().get_title().get_text() for ax in figure.axes if ax.get_legend()]


def assert_legends_beside_the_data(figure: Figure) -> None:
    """No legend overlaps any panel: each sits outside every axes' box."""
    renderer = figure.canvas.get_renderer()
    panels = [ax.get_window_extent(renderer) for ax in figure.axes if ax.get_visible()]
    legends = [ax.get_legend() for ax in figure.axes if ax.get_legend()]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(panel) for panel in panels), legend.get_title().get_text()


def test_the_band_note_gives_the_real_number_of_seeds(tmp_path, drawn):
    report(beta_sweep(tmp_path, 8), anchors=False)
    figure = drawn["beta"]
    (title,) = legend_titles(figure)
    assert "band: 95% t-interval of the mean, n = 8" in title and "3 seeds" not in title
    assert_legends_beside_the_data(figure)
    suptitle = figure.get_suptitle()
    assert "fixture" in suptitle and "sweep 2026-12-02 01:13:26" in suptitle
    assert "n = 8 split seeds" in suptitle


def test_no_band_note_where_no_band_is_drawn(tmp_path, drawn):
    report(beta_sweep(tmp_path, 2), anchors=False)  # two seeds: too few for a band
    (title,) = legend_titles(drawn["beta"])
    assert "dots: single split seeds" in title and "band" not in title


def test_a_yosinski_sweep_draws_layers_with_its_paired_panel_and_no_depth_figure(tmp_path, drawn):
    report(treatments_sweep(tmp_path), anchors=False)
    assert set(drawn) == {"layers"}
    figure = drawn["layers"]
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[0].startswith("Layer transferability") and titles[1].startswith("Paired")
    labels = {text.get_text() for text in figure.axes[1].get_xticklabels()}
    assert labels == {"1", "2"}
    assert "band" not in legend_titles(figure)[0]
    assert "n = 3 split seeds" in figure.get_suptitle() and "fixture" in figure.get_suptitle()
    assert_legends_beside_the_data(figure)


def test_copied_depths_without_baseB_still_get_the_depth_figure(tmp_path, drawn):
    sweep = tmp_path / "depths"
    number = 0
    for split_seed in range(3):
        for depth_value in (1, 2):
            results = ok_results(
                0.8 - 0.01 * depth_value + 0.01 * split_seed,
                split_seed=split_seed,
                depth=depth_value,
            )
            make_job(
                sweep,
                number,
                [f"transfer.depth={depth_value}", f"data.split_seed={split_seed}"],
                results,
            )
            number += 1
    report(sweep, anchors=False)
    assert "depth" in drawn and "layers" not in drawn
    assert "n = 3" in legend_titles(drawn["depth"])[0]
    assert_legends_beside_the_data(drawn["depth"])


def test_the_measures_axis_names_the_stages(tmp_path, drawn):
    report(measured_sweep(tmp_path))
    figure = drawn["measures"]
    for ax in figure.axes:
        if ax.get_visible():
            assert [t.get_text() for t in ax.get_xticklabels()] == STAGES
    assert "n = 3 split seeds" in figure.get_suptitle()
    assert_legends_beside_the_data(figure)


def test_the_budget_axis_gives_images_per_class(tmp_path, drawn):
    sweep = tmp_path / "budget"
    number = 0
    for split_seed in range(3):
        for fraction in (0.05, 0.5):
            for treatment in ("scratch", "transfer"):
                results = ok_results(
                    0.7 + fraction / 5,
                    split_seed=split_seed,
                    treatment=treatment,
                    fraction=fraction,
                )
                results["target_classes"] = [5, 6, 7, 8, 9]
                results["sizes"] = {"target_train": int(5400 * fraction) * 5, "target_val": 3000}
                overrides = [
                    f"transfer.treatment={treatment}",
                    f"data.fraction={fraction}",
                    f"data.split_seed={split_seed}",
                ]
                make_job(sweep, number, overrides, results)
                number += 1
    report(sweep)
    figure = drawn["budget"]
    for ax in figure.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["270\n5%", "2,700\n50%"]
        assert "images per class" in ax.get_xlabel()
    assert "n = 3" in legend_titles(figure)[0]
    assert_legends_beside_the_data(figure)
