"""Checks for understanding of chapter 13: Using statsmodels' MixedLM safely."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('13.1',
      ('MixedLM reports converged = True with no warnings. Is the fit at the maximum of the '
       'likelihood?'),
      [
        C('Yes: that is what the flag says.',
          'The chapter shows runs that report convergence far from the maximum.'),
        C("Not necessarily: compare −2 × llf with lmer's REML criterion, or refit from another start.",
          'Right: the criterion is the check, not the flag.',
          right=True),
      ]),
    Q('13.2',
      'A MixedLM fit stopped short of the maximum. Which repair does the chapter recommend?',
      [
        C(('a derivative-free method (method=["powell", "nm"]) or start_params from a trusted fit — '
          'then check the criterion again'),
          'Right: no repair is guaranteed, so check after it too.',
          right=True),
        C('use_sqrt=False',
          'The chapter found that this makes things worse.'),
        C('more iterations of the default optimizer',
          'The default stops at a point where its gradient is wrong; more iterations do not help.'),
      ]),
]
