"""Checks for understanding of chapter 10: Comparing models: likelihood-ratio tests and the parametric bootstrap."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('10.1',
      'To compare two models with different fixed effects by a likelihood-ratio test, fit both by…',
      [
        C('REML',
          'REML compares models with the same fixed part only.'),
        C('maximum likelihood (ML)',
          ('Right: REML likelihoods of models with different fixed parts are likelihoods of different'
           ' data (different residual contrasts).'),
          right=True),
        C('either: the difference in deviance is the same',
          ('The REML criterion depends on the fixed-effects design, so the two REML values cannot be '
           'compared.')),
      ]),
    Q('10.2',
      ('For dropping a random slope and its covariance, how does the naive χ²₂ p-value compare with '
       'the 50:50 mixture of χ²₁ and χ²₂?'),
      [
        C('It is smaller: the naive test rejects too often.',
          'χ²₂ has a heavier right tail than the mixture, so its p-value is larger.'),
        C('They are equal for REML fits.',
          'REML does not remove the boundary: the mixture is the right reference.'),
        C('It is larger: the naive test is conservative.',
          "Right: half of the mixture's weight is on the smaller χ²₁.",
          right=True),
      ]),
    Q('10.3',
      'What does a parametric bootstrap test of a smaller model against a larger one do?',
      [
        C('Resamples schools with replacement and refits both models.',
          'That is a nonparametric (case) bootstrap.'),
        C(('Simulates many data sets from the fitted smaller model, refits both models to each, and '
          'compares the observed statistic with the simulated ones.'),
          'Right: the simulated statistics replace the χ² approximation.',
          right=True),
        C('Permutes the outcome between schools.',
          'That is a permutation test, which tests a different null hypothesis.'),
      ]),
]
