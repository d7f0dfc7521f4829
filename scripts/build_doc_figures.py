"""Write the two example figures of the documentation (docs/images/) from the bundled Assen data.

Usage::

    python scripts/build_doc_figures.py

Rerun after a change to the plots or the data, look at both images, and commit them.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

import assen_demand
from assen_demand.outputs import plots

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def main() -> None:
    result = assen_demand.forecast("GM0106")
    OUT.mkdir(parents=True, exist_ok=True)
    fig = plots.plot_older_population(result, fig=Figure(layout="constrained"))
    plots.add_source_note(fig)
    fig.savefig(OUT / "ouderen_per_wijk.png", dpi=110)
    n = result.population.sizes["area"] - 1
    fig = Figure(figsize=(plots.A4_WIDTH, 0.32 * n + 2.0), layout="constrained")
    plots.plot_gap_heatmap(result, "verpleegzorgplek", ax=fig.add_subplot())
    plots.add_source_note(fig)
    fig.savefig(OUT / "tekort_per_wijk_verpleegzorgplek.png", dpi=110)
    print(f"wrote {OUT}/ouderen_per_wijk.png and tekort_per_wijk_verpleegzorgplek.png")


if __name__ == "__main__":
    main()
