"""Fixtures shared by the test modules."""

import pytest

import hlm_course as hc


@pytest.fixture(scope="module")
def hsb():
    """The full High School and Beyond data (7185 students, 160 schools), loaded once per test module."""
    return hc.load_hsb()
