"""Checks for understanding of chapter 14: Lab 1: the sector gap in math achievement."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('14.1',
      'What does the Hausman test of the lab compare?',
      [
        C('two random parts of the same model',
          'That would be a likelihood-ratio test of a variance component.'),
        C(('the within-school (fixed-effects) estimate of the SES effect with the random-intercept '
          "model's estimate"),
          ('Right: a large difference says SES has different effects within and between schools, '
           'which the random-intercept model mixes.'),
          right=True),
        C('the residuals with a normal distribution',
          'That is a QQ plot, a diagnostic of the error distribution.'),
      ]),
    Q('14.2',
      ('What does adding the school mean of SES (a contextual variable) to the random-intercept model'
       ' do?'),
      [
        C('It removes the need for a random intercept.',
          'Schools still differ beyond their mean SES; the random intercept stays.'),
        C('Nothing: the school mean is already in ses.',
          'A random-intercept model with ses alone forces one slope for both parts.'),
        C(('It lets the within- and between-school effects of SES differ, so the coefficient of ses '
          'becomes the within-school effect.'),
          'Right: the mean-SES coefficient is then the contextual effect, between minus within.',
          right=True),
      ]),
    Q('14.3',
      ("lmer drops every row with a missing value in the model's variables. When is the complete-case"
       ' estimate of the regression still unbiased?'),
      [
        C("when missingness depends only on the model's covariates, not on the outcome given them",
          ('Right: the distribution of the outcome given the covariates is then the same in the '
           'complete cases.'),
          right=True),
        C('only when values are missing completely at random',
          'That is sufficient but not necessary.'),
        C('never: dropping rows always biases the estimates',
          'If missingness depends only on the covariates, the conditional model is unchanged.'),
      ]),
]
