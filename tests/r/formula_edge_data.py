"""The data of tests/r/formula_edge_reference.R (seeded; issue 24's reproducers): run from the repository root
with ``python tests/r/formula_edge_data.py`` before the R script; writes tests/reference/formula_edge.csv.

The first columns are issue 24's reproducer exactly (``y1``: the response missing wherever ``f == "c"``); the
others are drawn after it: ``y2`` with every 7th value missing (scale()/poly() on all rows), the dotted columns
``x.index``, ``y.T`` and ``IQ.verb``, a two-level string column ``h``, an offset ``o``, ``xnear`` (x plus 1e-9
noise: lme4 drops it) and a smooth ``t`` with 200 distinct values for poly()'s degree check."""
import numpy as np
import pandas as pd

rng = np.random.default_rng(3)
g = np.repeat(np.arange(20), 10)
d = pd.DataFrame({"g": g, "x": rng.normal(size=200), "f": rng.choice(["a", "b", "c"], 200)})
d["y1"] = 2 + .5 * d.x + rng.normal(size=20)[g] + rng.normal(size=200)
d.loc[d.f == "c", "y1"] = np.nan
r2 = np.random.default_rng(24)
d["y"] = 1 + .4 * d.x + (d.f == "b") * .8 + r2.normal(size=20)[g] * (1 + .5 * (d.f == "a")) + r2.normal(size=200)
d["y2"] = d["y"]
d.loc[::7, "y2"] = np.nan
d["x.index"] = r2.normal(size=200).round(6)
d["y.T"] = (3 * d.x + r2.normal(size=20)[g] * 2 + 5 * r2.normal(size=200)).round(6)
d["IQ.verb"] = (10 + 2 * r2.normal(size=200)).round(4)
d["h"] = r2.choice(["lo", "hi"], 200)
d["o"] = r2.uniform(-1, 1, 200).round(4)
d["xnear"] = d.x + 1e-9 * r2.normal(size=200)
d["t"] = np.linspace(0, 1, 200)
d["g"] = "s" + d.g.astype(str).str.zfill(2)
d.to_csv("tests/reference/formula_edge.csv", index=False, float_format="%.17g")
