"""Checks for understanding of chapter 8: The random-coefficients model."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('8.1',
      "With SES centred at each school's mean (cses), what is a school's intercept β₀ⱼ?",
      [
        C('the expected math score of a student whose SES is 0 on the national scale',
          'That is the intercept with raw (or grand-mean centred) SES.'),
        C("the school's mean math achievement",
          "Right: cses = 0 at the school's mean SES, so the intercept is the school's expected mean.",
          right=True),
        C('the grand mean of math achievement',
          'That is γ₀₀, the average of the intercepts.'),
      ]),
    Q('8.2',
      ('Two runs of the same bootstrap, with different random seeds, give slightly different interval'
       ' limits. Why?'),
      [
        C('One of the runs fitted the model wrongly.',
          'Each run refits correctly; the simulated data differ.'),
        C('The data changed between the runs.',
          'The data are the same; only the simulated data sets differ.'),
        C(('Monte Carlo error: a finite number of resamples; it shrinks as the number of simulations '
          'grows.'),
          'Right: its size can be calculated and reported.',
          right=True),
      ]),
    Q('8.3',
      ('A fit reports a singular covariance matrix (a correlation of ±1 or a zero variance). What do '
       'you do first?'),
      [
        C(('Check the fit: read the convergence check, restart, compare the criterion at competing '
          'estimates; the lowest criterion wins.'),
          'Right: the chapter found a singular fit where a better, non-singular optimum existed.',
          right=True),
        C('Drop the random slope: the data cannot support it.',
          ('Perhaps, but first make sure the boundary is real: a singular fit can be an optimizer '
           'artefact.')),
        C('Nothing: singular fits are normal.',
          'Some are real, but you have to check before you report one.'),
      ]),
]
