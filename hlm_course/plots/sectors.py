"""Beta-space pictures of the six ways of comparing the school sectors.

Monette (2010) ("Comparing mathach and its relationship with ses in the two
school sectors") draws each method's estimates of a sector's (intercept,
slope), or of the Public − Catholic differences, as a 95% confidence
ellipse in *beta space*.  The recipe:

* :func:`method_ellipse` -- the joint confidence ellipse of a
  :class:`hlm_course.methods.MethodResult`'s (intercept, slope) for one sector
  or one difference, with the radius that is right for the method
  (:meth:`~hlm_course.methods.MethodResult.ellipse_radius`: ``2F`` for the
  univariate models, Hotelling's T² for the two-stage MANOVA), or any radius
  given (e.g. ``t(0.975; df)`` for an ellipse with 95% *shadows*).
"""

from __future__ import annotations

from .beta_space import draw_ellipse

__all__ = ["method_ellipse"]


def method_ellipse(ax, result, level: str | None = None, *, conf: float = 0.95, radius: float | None = None,
                   **kw):
    """Draw the ``conf`` confidence ellipse of (intercept, slope) of one sector
    level, or of a difference such as ``"Public - Catholic"``, from one method.

    Parameters
    ----------
    ax
        A matplotlib Axes (beta space: intercept across, slope up).
    result
        A :class:`hlm_course.methods.MethodResult` (one entry of
        :func:`hlm_course.fit_methods`).
    level
        A sector level (``"Catholic"``), a difference label
        (``"Public - Catholic"``), or ``None`` for a method fitted without
        sectors.
    conf
        Joint confidence level of the region (default 0.95).
    radius
        Override the radius r of ``(β − β̂)' V̂⁻¹ (β − β̂) = r²``; by default
        ``result.ellipse_radius(level, conf)`` -- ``r² = 2F(conf; 2, df)``,
        or Hotelling's ``2ν/(ν − 1) F(conf; 2, ν − 1)`` for the two-stage
        method.  ``radius = t(0.975; df)`` gives the ellipse whose
        projections on the axes are the two 95% confidence intervals.
    **kw
        Passed to :func:`hlm_course.plots.beta_space.draw_ellipse` (e.g.
        ``color``, ``ls``, ``label``, ``center_marker``, ``fill``).

    Returns
    -------
    The ellipse's matplotlib artist (a Line2D, or a Polygon when filled).
    """
    centre, cov = result.ellipse(level)
    if radius is None:
        radius = result.ellipse_radius(level, conf)
    elif not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    return draw_ellipse(ax, centre, cov, radius, **kw)
