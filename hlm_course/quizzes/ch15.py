"""Checks for understanding of chapter 15: Lab 2: minority status and math achievement."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('15.1',
      ('The estimate of a 3 × 3 covariance matrix T of random effects is nearly singular (a '
       "'pancake'). What does that mean?"),
      [
        C('The fit did not converge.',
          'A nearly singular T̂ can be the true optimum; convergence is a separate check.'),
        C(('One combination of the random effects has (nearly) zero variance: the effects vary in '
          'essentially two directions.'),
          ('Right: look at the eigenvalues of T̂, and restart from off the boundary to check it is '
           'real.'),
          right=True),
        C('The random effects are uncorrelated.',
          'Uncorrelated effects give a T̂ with zero off-diagonals, not a flat ellipsoid.'),
      ]),
    Q('15.2',
      'Multiplying SES by 100 before fitting a random SES slope…',
      [
        C(('is the same model in other units, but can derail the optimizer because the variances '
          'differ by a factor of 10⁴'),
          "Right: the lab found lme4's optimizers stop at the wrong place after such a rescaling.",
          right=True),
        C('changes the model: the fit is different',
          'It is the same model in other units: the slope shrinks by 100 and its variance by 100².'),
        C("improves the optimizer's precision",
          "Badly scaled parameters make the optimizer's job harder, not easier."),
      ]),
    Q('15.3',
      ("A 'multilevel R²' is computed as the proportional reduction of σ̂² when a level-1 predictor "
       'is added. Can it be negative?'),
      [
        C('No: it is a share of variance, between 0 and 1.',
          'The two σ̂² come from two separate fits; the second can be larger.'),
        C('Yes: σ̂² (or τ̂) can rise when a predictor is added, so the ratio is not a true share.',
          ("Right: that is why the lab uses Snijders and Bosker's R², the reduction of prediction error, "
           'which cannot be negative in the population.'),
          right=True),
      ]),
]
