"""The simulated data sets of tests/r/glmer_reference.R (seeded): run from the repository root with
``python tests/r/glmer_sim_data.py`` before the R script; writes tests/reference/glmer_sim_*.csv."""
import numpy as np, pandas as pd
rng = np.random.default_rng(20261204)
# nested: schools / classes, binary outcome
S, C, m = 30, 4, 12
school = np.repeat(np.arange(S), C * m); klass = np.tile(np.repeat(np.arange(C), m), S)
x = rng.normal(size=S * C * m)
bs = rng.normal(0, 0.8, S); bc = rng.normal(0, 0.5, S * C)
eta = -0.4 + 0.7 * x + bs[school] + bc[school * C + klass]
nested = pd.DataFrame({"school": school + 1, "class": klass + 1, "x": x.round(4), "y": rng.binomial(1, 1 / (1 + np.exp(-eta)))})
# crossed with a random slope: items x subjects, binary
I, P = 25, 40
item = np.tile(np.arange(I), P); subj = np.repeat(np.arange(P), I)
cond = rng.choice([0.0, 1.0], size=I * P)
bsub = rng.multivariate_normal([0, 0], [[0.6, 0.1], [0.1, 0.3]], P); bit = rng.normal(0, 0.5, I)
eta = 0.3 + 0.5 * cond + bsub[subj, 0] + bsub[subj, 1] * cond + bit[item]
crossed = pd.DataFrame({"subj": subj + 1, "item": item + 1, "cond": cond, "y": rng.binomial(1, 1 / (1 + np.exp(-eta)))})
# uncorrelated slope, counts with exposure
G, n = 40, 15
g = np.repeat(np.arange(G), n); t = rng.uniform(0.5, 2, G * n); z = rng.normal(size=G * n)
b0 = rng.normal(0, 0.4, G); b1 = rng.normal(0, 0.3, G)
mu = t * np.exp(0.2 + 0.4 * z + b0[g] + b1[g] * z)
counts = pd.DataFrame({"g": g + 1, "z": z.round(4), "t": t.round(4), "k": rng.poisson(mu)})
nested.to_csv("tests/reference/glmer_sim_nested.csv", index=False)
crossed.to_csv("tests/reference/glmer_sim_crossed.csv", index=False)
counts.to_csv("tests/reference/glmer_sim_counts.csv", index=False)
