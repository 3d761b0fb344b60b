"""Checks for understanding of chapter 18: Binary outcomes."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('18.1',
      'In the logistic random-intercept model, why is there no level-1 variance σ²?',
      [
        C('Because it is fixed at 1 by convention.',
          ('The latent-variable view fixes a logistic variance π²/3, but the model for the 0/1 '
           'outcome has no σ² parameter at all.')),
        C("Because a 0/1 outcome's variance p(1 − p) is set by its mean.",
          'Right: the Bernoulli distribution has no separate variance parameter.',
          right=True),
        C('Because it is absorbed in τ₀₀.',
          ('τ₀₀ is the variance of the district effects on the log-odds; the level-1 variation is '
           'Bernoulli.')),
      ]),
    Q('18.2',
      ("A GLMM's odds ratio for urban residence is larger than the one a GEE gives on the same data. "
       'Which is right?'),
      [
        C("the GEE's: the GLMM overestimates",
          'Both can be right: they estimate different things.'),
        C("the GLMM's: GEE ignores the clustering",
          ('GEE accounts for clustering in its standard errors; its coefficient is a '
           'population-average one by design.')),
        C(("both: the GLMM's compares women in the same district, the GEE's averages over districts, "
          'and averaging pulls odds ratios towards 1'),
          'Right: choose by the question asked.',
          right=True),
      ]),
    Q('18.3',
      ('With τ₀₀ = 0 for the district log-odds, what is the latent intraclass correlation τ₀₀/(τ₀₀ + '
       'π²/3)?'),
      [
        C('0',
          ('Right: without district variance, women of the same district are no more alike than any '
           'two women.'),
          right=True),
        C('π²/3',
          ("That is the logistic distribution's variance, the level-1 term of the latent-variable "
           'model.')),
        C('1',
          'An ICC of 1 would mean all variation lies between districts.'),
      ]),
]
