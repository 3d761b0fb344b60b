"""hlm_course.plots.effects: effect plots and difference plots with bands."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import hlm_course as hc  # noqa: E402
from hlm_course import hypotheses as hy  # noqa: E402
from hlm_course.plots import effects  # noqa: E402


@pytest.fixture(scope="module")
def fit():
    hs = hc.load_hsb()
    return hs, hc.lmer("mathach ~ ses * sector + (1 | school)", hs)


def test_effect_plot_draws_a_line_and_band_per_level(fit):
    hs, m = fit
    grid = hy.effect_grid(m, hy.expand_grid(sector=["Public", "Catholic"], ses=np.linspace(-2, 2, 9)))
    ax = effects.effect_plot(grid, "ses", "sector", data=hs, y="mathach")
    lines = [ln for ln in ax.get_lines()]
    assert len(lines) == 2
    assert [mcolors.to_hex(ln.get_color()).upper() for ln in lines] == ["#0072B2", "#D55E00"]
    np.testing.assert_allclose(lines[1].get_ydata(), grid.query("sector == 'Catholic'")["estimate"])
    assert len(ax.collections) == 4  # two scatters, two bands
    assert mcolors.to_hex(ax.figure.get_facecolor()) == "#ffffff"
    assert ax.get_legend().get_title().get_text() == "sector"


def test_effect_plot_single_line_and_errors(fit):
    _, m = fit
    grid = hy.effect_grid(m, hy.expand_grid(sector="Public", ses=[-1.0, 0.0, 1.0]))
    ax = effects.effect_plot(grid, "ses", band=False, ylabel="mathach")
    assert len(ax.get_lines()) == 1 and len(ax.collections) == 0 and ax.get_ylabel() == "mathach"
    with pytest.raises(KeyError, match=r"\['estimate'\]"):
        effects.effect_plot(grid.drop(columns="estimate"), "ses")
    with pytest.raises(ValueError, match="pass y="):
        effects.effect_plot(grid, "ses", data=grid)
    with pytest.raises(ValueError, match="missing values"):
        effects.effect_plot(grid.assign(lower=np.nan), "ses")


def test_band_crossings():
    g = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "lower": [1.0, 0.5, -0.5, -1.0]})
    np.testing.assert_allclose(effects.band_crossings(g, "x"), [1.5])
    np.testing.assert_allclose(effects.band_crossings(g, "x", value=0.75), [0.5])
    assert effects.band_crossings(g.assign(lower=1.0), "x").size == 0


def test_difference_plot(fit):
    _, m = fit
    g = hy.expand_grid(ses=np.linspace(-3, 3, 61))
    pw = hy.difference_grid(m, g.assign(sector="Catholic"), g.assign(sector="Public"))
    sim = hy.difference_grid(m, g.assign(sector="Catholic"), g.assign(sector="Public"), band="scheffe")
    ax = effects.difference_plot(pw, "ses", simultaneous=sim)
    crossings = effects.band_crossings(pw, "ses", "lower")
    assert crossings.size == 1
    vlines = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(vlines) == crossings.size + effects.band_crossings(pw, "ses", "upper").size
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["pointwise 95% band", "estimated difference", "simultaneous (Scheffé) band"]
