"""benchmarks/peers.py puts every peer's answer on lme4's scale; these check that conversion (no peer needed)."""

import importlib.util
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def peers():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("peers_bench", ROOT / "benchmarks" / "peers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_peer_cov_reorders_patsy_columns_and_reproduces_our_criterion(peers):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hc.lmer("mathach ~ cses + minority + (cses + minority | school)", hc.load_hsb())
    cov = m.sigma2 * m.pls.Lambda @ m.pls.Lambda.T  # ours: (Intercept), cses, minorityYes
    perm = [0, 2, 1]  # patsy's order: Intercept ('Group'), minority[T.Yes], cses
    fake = SimpleNamespace(model=SimpleNamespace(exog_re_names=["Group", "minority[T.Yes]", "cses"]),
                           cov_re=cov[np.ix_(perm, perm)], scale=m.sigma2)
    back, scale = peers.peer_cov(fake, m)
    np.testing.assert_allclose(back, cov)
    assert peers.crit_at(m, back, scale) == pytest.approx(m.reml_criterion, abs=1e-6)
    # the unpermuted matrix is a different model: its criterion must differ
    assert peers.crit_at(m, fake.cov_re, scale) > m.reml_criterion + 1


def test_peer_cov_refuses_unknown_names(peers):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hc.lmer("mathach ~ cses + (cses | school)", hc.load_hsb())
    fake = SimpleNamespace(model=SimpleNamespace(exog_re_names=["Group", "ses"]), cov_re=np.eye(2), scale=1.0)
    with pytest.raises(ValueError):
        peers.peer_cov(fake, m)


def test_dense_penicillin_criterion_matches_ours(peers):
    d = pd.read_csv(ROOT / "tests" / "reference" / "multi_penicillin.csv", dtype={"plate": str, "sample": str})
    m = hc.lmer("diameter ~ 1 + (1|plate) + (1|sample)", d)
    vc = m.varcorr.set_index("Groups")["Variance"]
    crit = peers.penicillin_reml_crit(d, float(vc["plate"]), float(vc["sample"]), m.sigma2)
    assert crit == pytest.approx(m.reml_criterion, abs=1e-6)
    assert peers.penicillin_reml_crit(d, 2 * float(vc["plate"]), float(vc["sample"]), m.sigma2) > crit
