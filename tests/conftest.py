"""Fixtures shared by the test modules: the data, a cache of fitted models, the stored R output.

Fitted models are shared through :func:`fitted` (as MixedModels.jl's ``test/modelcache.jl``): a model is fitted
once per test session, whichever module asks first. Every stored R result (``tests/reference/*.json``) is
read through :func:`reference`, the book's own :func:`hlm_course.book.reference.r_reference`.
"""

import functools

import pytest

import hlm_course as hc
from hlm_course.book.reference import r_reference

#: The random-coefficients model of the lme4 vignette on Raudenbush & Bryk, ch. 4 (REML).
RC = "mathach ~ cses + (cses | school)"
_LOADERS = {"hsb": hc.load_hsb, "hs40": hc.load_hs40, "exam": hc.load_exam}


@functools.lru_cache(maxsize=None)
def _data(name: str):
    return _LOADERS[name]()


@functools.lru_cache(maxsize=None)
def _fit(formula: str, data: str = "hsb", reml: bool = True):
    return hc.lmer(formula, _data(data), reml=reml)


@pytest.fixture(scope="module")
def hsb():
    """The full High School and Beyond data (7185 students, 160 schools), a fresh copy for each test module."""
    return hc.load_hsb()


@pytest.fixture(scope="session")
def fitted():
    """``fitted(formula, data="hsb", reml=True)``: the model fitted once per test session (``data`` names one of
    the course's data sets: ``"hsb"``, ``"hs40"``, ``"exam"``). Treat the fit as read-only."""
    return _fit


@pytest.fixture(scope="session")
def rc(fitted):
    """The random-coefficients model, ``mathach ~ cses + (cses | school)`` on HSB (REML)."""
    return fitted(RC)


def reference(name: str) -> dict:
    """The stored R output ``tests/reference/<name>.json`` (one reader for every test)."""
    return r_reference(name)
