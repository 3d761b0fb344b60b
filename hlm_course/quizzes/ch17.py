"""Checks for understanding of chapter 17: Growth over time."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('17.1',
      ('In the growth model math ~ year + (year | childid), the origin of time moves from year 0 to '
       'the first test. What changes?'),
      [
        C("the slope's variance τ₁₁ and the residual variance σ²",
          'Those do not change: moving the origin changes only what the intercept means.'),
        C("the intercept's variance τ₀₀ and its covariance with the slope τ₀₁",
          'Right: the intercept is now status at another time, τ₀₀(c) = τ₀₀ + 2cτ₀₁ + c²τ₁₁.',
          right=True),
        C('the fit: the REML criterion changes',
          ('Shifting time is a reparametrization of a model with a random intercept and slope; the '
           'fit is the same.')),
      ]),
    Q('17.2',
      'How does a pupil-level predictor such as black enter the model as a predictor of growth?',
      [
        C('as a main effect black',
          'A main effect shifts status (the intercept), not the growth rate.'),
        C('as a random slope (black | childid)',
          'black is constant within a pupil; it cannot vary at the occasion level.'),
        C('as the cross-level interaction year:black',
          'Right: it lets the growth rate differ between groups of pupils.',
          right=True),
      ]),
    Q('17.3',
      ('Pupils are nested in schools, but the model leaves the school level out. What happens to the '
       'standard error of a school-level predictor?'),
      [
        C('It is too small.',
          ('Right: pupils of the same school are counted as independent information about a '
           'school-level effect.'),
          right=True),
        C('It is too large.',
          ('Ignoring a level overstates the information about effects at that level, so the SE is too'
           ' small.')),
        C('It does not change; only the variance components change.',
          "The fixed effect's SE depends on how much independent information there is at its level."),
      ]),
]
