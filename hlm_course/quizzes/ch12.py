"""Checks for understanding of chapter 12: Reading classic HLM output."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('12.1',
      'HLM reports an average reliability of the school intercepts near 0.9. What does it mean?',
      [
        C('90% of the variance of math achievement lies between schools.',
          'That would be the intraclass correlation, which is much smaller here.'),
        C(("A school's sample mean is a precise measure of its true mean compared with how much true "
          'means differ.'),
          'Right: λⱼ = τ₀₀/(τ₀₀ + σ²/nⱼ), averaged over schools.',
          right=True),
        C('The model explains 90% of the variance.',
          "Reliability is about measuring each school's coefficient, not about explained variance."),
      ]),
    Q('12.2',
      ("After mean SES and sector enter the slope model, HLM's χ² test no longer rejects τ₁₁ = 0. "
       'What may you conclude?'),
      [
        C('Mean SES and sector explain the systematic part of the slope variation.',
          ('Not rejecting is not explaining: the test may simply lack power, the more so when slope '
           'reliability is low.')),
        C(('The data show no slope variation beyond what sampling error and the predictors account for'
          ' — which is weak evidence when reliability is low.'),
          'Right: absence of evidence, not evidence of absence.',
          right=True),
        C('The slopes are the same in every school.',
          'A non-significant test does not show that the variance is zero.'),
      ]),
    Q('12.3',
      "When are HLM's robust (sandwich) standard errors of the fixed effects trustworthy?",
      [
        C('with few schools, where the model-based ones fail',
          'With few schools robust standard errors are themselves biased downwards and unstable.'),
        C('only when the model is correct',
          ('When the model is correct the model-based SEs are fine; robust SEs are for when it may '
           'not be.')),
        C('with many schools, even if the covariance structure of the model is wrong',
          'Right: they rely on the number of schools, not on the model of T.',
          right=True),
      ]),
]
