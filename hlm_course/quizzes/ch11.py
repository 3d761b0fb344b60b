"""Checks for understanding of chapter 11: Diagnostics: checking the assumptions."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('11.1',
      'Why must a QQ plot of the estimated random effects (ranef) be read with care?',
      [
        C('They are the true random effects, so any curve is a violation.',
          'We only see estimates, and shrinkage changes their spread and shape.'),
        C('They are always normal by construction, so the plot shows nothing.',
          'They are not exactly normal; gross departures (outliers, skewness) do show.'),
        C(('They are shrunken estimates: less spread out than the true effects, and pulled towards the'
          ' normal shape the model assumes.'),
          'Right: a straight line is weak evidence of normal random effects.',
          right=True),
      ]),
    Q('11.2',
      ('The level-1 residuals against fitted values show straight diagonal edges. What causes them in'
       ' the HSB data?'),
      [
        C('a non-linear effect of SES',
          'That shows as a curved trend in the cloud, not as sharp straight edges.'),
        C('a bounded outcome: the test score has a minimum and a maximum',
          'Right: residual = score − fitted is then bounded by lines of slope −1.',
          right=True),
        C('unequal variances between schools',
          'That shows as a funnel or as groups of different spread, not as straight edges.'),
      ]),
]
