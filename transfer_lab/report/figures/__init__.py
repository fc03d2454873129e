"""The studies' figures, each drawn only when the sweep holds the data for it.
Runs in the report, after the tables; a figure that fails costs a line, never the tables.

One module per figure (layers, beta, budget, depth; measures is drawn from its own table), what
they share in `plotting`, the published numbers' panels in `anchor_panels`. To add a figure:
write `name_figure(sweep: SweepData, out_dir) -> list[Path]` that returns [] when the sweep lacks
its data, and list it in FIGURES.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transfer_lab.report.figures.beta import beta_figure
from transfer_lab.report.figures.budget import budget_figure
from transfer_lab.report.figures.depth import depth_figure
from transfer_lab.report.figures.layers import layers_figure
from transfer_lab.report.figures.plotting import SweepData

log = logging.getLogger(__name__)

FIGURES = (
    ("layers", layers_figure),
    ("beta", beta_figure),
    ("budget", budget_figure),
    ("depth", depth_figure),
)

__all__ = ["FIGURES", "SweepData", "draw_figures"]


def draw_figures(sweep: SweepData, out_dir: Path) -> tuple[list[Path], list[str]]:
    """Every figure the sweep has data for: the files written (PNG and SVG) and, for each
    figure that failed, one line saying why. A figure must never cost the tables."""
    drawn: list[Path] = []
    errors: list[str] = []
    for name, figure in FIGURES:
        try:
            drawn += figure(sweep, out_dir)
        except Exception as error:
            log.warning("figure %s not drawn: %s", name, error, exc_info=True)
            errors.append(f"figure {name} could not be drawn: {type(error).__name__}: {error}")
    return drawn, errors
