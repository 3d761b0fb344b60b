"""Checks for understanding of chapter 20: Counts."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('20.1',
      ('A Poisson GLMM of deaths has the offset log(expected). What does exp(γ) of a predictor then '
       'compare?'),
      [
        C('the expected numbers of deaths of two counties',
          ('The offset divides the count by the expected number: the model is for the ratio of observed to '
           'expected deaths, not for the count itself.')),
        C(('the standardized mortality ratios (observed over expected deaths) of two counties one unit '
           'apart in that predictor, in the same region'),
          'Right: with the offset the model is for the rate μ/E, and exp(γ) is a rate ratio.',
          right=True),
        C('the probabilities of death in the two counties',
          ('A Poisson model with a log link gives rate ratios; probabilities and odds ratios belong to '
           'the logistic model of chapter 18.')),
      ]),
    Q('20.2',
      ("In a Poisson regression that ignores the regions, Pearson χ²/df is about 5. What does that "
       'suggest?'),
      [
        C('The model fits well: a ratio above 1 is expected for counts.',
          ('A Poisson model implies variance = mean, so the ratio should be near 1; about 5 means the '
           'counts vary about five times more than the model allows.')),
        C(('Overdispersion: the counts vary more than a Poisson model allows, so its standard errors are '
           'too small; grouping (regions) or an observation-level effect can account for it.'),
          'Right: here much of it is variation between regions and countries.',
          right=True),
        C('The offset is wrong and should be removed.',
          ('Removing the offset would model counts, not rates, and would make the variation between '
           'counties of different size larger still.')),
      ]),
    Q('20.3',
      ('An observation-level random effect (1 | county) has variance σ²ₑ. For a county with predicted mean '
       'μ, how does its variance compare with the Poisson variance μ?'),
      [
        C('It is μ times exp(σ²ₑ), the same factor for every county.',
          ("That would be quasi-Poisson's constant factor; the lognormal effect adds a term that grows "
           'with μ².')),
        C('It is μ + μ²(exp(σ²ₑ) − 1): the excess grows with the mean, so large counts show it most.',
          'Right: the variance of a Poisson-lognormal count.',
          right=True),
        C('It is μ + σ²ₑ, an added constant.',
          ('σ²ₑ is a variance on the log scale; on the count scale it multiplies the mean, so the excess '
           'is proportional to μ².')),
      ]),
]
