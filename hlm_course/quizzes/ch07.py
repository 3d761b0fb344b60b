"""Checks for understanding of chapter 7: Comparing the four models."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('7.1',
      ('A likelihood-ratio test of τ₁₁ = 0 (dropping a random slope) refers its statistic to χ² with '
       'the number of dropped parameters as df. What is wrong with that?'),
      [
        C('The naive p-value is too small.',
          ('At the boundary the statistic is often zero, so a χ² with full df overstates large '
           "values' probability: the p-value is too large.")),
        C(('The null value lies on the boundary (a variance cannot be negative), so the naive p-value '
          'is too large.'),
          ('Right: the reference is a mixture of χ² distributions, and the naive p-value is '
           'conservative.'),
          right=True),
        C('Nothing: REML fits make the test exact.',
          'REML fits are right for comparing random parts, but the boundary problem remains.'),
      ]),
    Q('7.2',
      ('Two models have almost the same residual standard deviation σ̂. Does the extra term of the '
       'larger one matter?'),
      [
        C('No: equal σ̂ means equal fit.',
          ('σ̂ measures scatter within schools; a random slope or a level-2 predictor can change the '
           'fit a lot while σ̂ barely moves.')),
        C('It may: test it (likelihood-ratio or bootstrap) or look at τ̂, not at σ̂ alone.',
          'Right: σ̂ only sees the level-1 part of the model.',
          right=True),
      ]),
]
