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
    assert "n = 3 split seeds" in figure.get_suptitle() and " on digits · " in figure.get_suptitle()
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


def paired_means(ax) -> list[float]:
    """The mean differences a paired panel plots (its error bars' centres)."""
    return [y for container in ax.containers for y in container.lines[0].get_ydata()]


def assert_every_text_fits(figure: Figure) -> None:
    """No title, label, tick or p-value runs past the figure's edge (cut off in the PNG): the
    box around everything drawn lies within the page."""
    drawn = figure.get_tightbbox(figure.canvas.get_renderer())
    page = figure.bbox_inches.padded(0.01)
    assert page.x0 <= drawn.x0 and drawn.x1 <= page.x1, (drawn, page)
    assert page.y0 <= drawn.y0 and drawn.y1 <= page.y1, (drawn, page)


def assert_accuracy_axes(figure: Figure) -> None:
    """Every panel in the tables' metric: accuracy, never error."""
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_visible() and ax.get_ylabel()]
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert labels and all("accuracy" in label for label in labels), labels
    assert not any("error" in words for words in labels + titles), labels + titles


def test_the_beta_figure_shows_accuracy_gains_as_the_tables_do(tmp_path, drawn):
    sweep = tmp_path / "2026-12-02" / "01-13-26"
    for number, (beta_value, seed) in enumerate((b, s) for b in (0.0, 0.4) for s in range(8)):
        target = 0.8 + 0.02 * seed + (0.02 + 0.004 * seed if beta_value else 0)
        make_job(
            sweep,
            number,
            [f"model.beta={beta_value:g}", f"data.split_seed={seed}"],
            ok_results(target, split_seed=seed, beta=beta_value),
        )
    report(sweep, anchors=False)  # β = 0.4: 2 to 4.8 points better, 3.4 on average
    figure = drawn["beta"]
    assert_accuracy_axes(figure)
    source, target, paired = figure.axes[:3]
    assert paired_means(paired) == pytest.approx([3.4])  # Δ > 0: β helped, as in paired.csv
    assert "> 0: β helped" in paired.get_ylabel()
    # each split seed's two dots joined by a line of its own: the pairs the test compares
    seeds = [line for line in target.lines if line.get_label().startswith("_")]
    assert [list(line.get_xdata()) for line in seeds] == [[0.0, 0.4]] * 8
    drawn_pairs = sorted(tuple(round(y, 6) for y in line.get_ydata()) for line in seeds)
    assert drawn_pairs == [(80 + 2 * s, round(82 + 2.4 * s, 6)) for s in range(8)]
    assert "on digits" in figure.get_suptitle() and "fixture" in figure.get_suptitle()
    assert_every_text_fits(figure)


def test_the_layers_figure_shows_differences_from_baseB_in_accuracy(tmp_path, drawn):
    report(treatments_sweep(tmp_path), anchors=False)
    figure = drawn["layers"]
    assert_accuracy_axes(figure)
    # AnB+ is 2 points above baseB, AnB 1 and 2 below at n = 1, 2, BnB 0.5 above
    assert sorted(paired_means(figure.axes[1])) == pytest.approx([-2, -1, 0.5, 0.5, 2, 2])
    assert "on digits" in figure.get_suptitle()
    assert_every_text_fits(figure)


def test_the_budget_figure_shows_gains_over_scratch_in_accuracy(tmp_path, drawn):
    sweep = tmp_path / "budget"
    for number, (fraction, treatment, split_seed) in enumerate(
        (f, t, s) for f in (0.05, 0.5) for t in ("scratch", "transfer") for s in range(3)
    ):
        bonus = 0.03 if treatment == "transfer" else 0.0
        make_job(
            sweep,
            number,
            [
                f"data.fraction={fraction}",
                f"transfer.treatment={treatment}",
                f"data.split_seed={split_seed}",
            ],
            ok_results(
                0.7 + fraction / 5 + bonus + 0.01 * split_seed,
                split_seed=split_seed,
                treatment=treatment,
                fraction=fraction,
            ),
        )
    report(sweep, anchors=False)
    figure = drawn["budget"]
    assert_accuracy_axes(figure)
    assert paired_means(figure.axes[1]) == pytest.approx([3.0, 3.0])
    assert "on digits" in figure.get_suptitle()
    assert_every_text_fits(figure)
