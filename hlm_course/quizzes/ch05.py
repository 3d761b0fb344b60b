"""Checks for understanding of chapter 5: London exam scores: four ways to draw a line."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('5.1',
      ('In the variable-intercept model normexam ~ standLRT + (1 | school), what differs between the '
       "schools' lines?"),
      [
        C('only their slopes',
          'That is the variable-slope model, whose lines all pass through one point.'),
        C('both intercepts and slopes',
          'That is the hierarchical linear model, (standLRT | school).'),
        C('only their intercepts: all schools share one slope',
          'Right: the lines are parallel, each school shifted up or down.',
          right=True),
      ]),
    Q('5.2',
      ('The variable-slope model has a random slope but no random intercept. Why does its fit change '
       "when the predictor's origin moves (standLRT + 1)?"),
      [
        C(('All its lines pass through one point at standLRT = 0; moving the origin moves that point, '
          'which is a different model.'),
          ("Right: without a random intercept the lines are pinned at the predictor's zero, so the "
           'model depends on where zero is.'),
          right=True),
        C('REML criteria always change when a predictor is shifted.',
          ('For a model with a random intercept and slope the shift only reparametrizes it: same '
           'criterion, same σ̂².')),
        C('It does not change: shifting a predictor never changes a fit.',
          'It does here: the pinned point moves with the origin.'),
      ]),
    Q('5.3',
      ('A REML fit of the hierarchical model also reports an ML deviance, −2 log L at the REML estimates. '
       'Refitting by ML gives a deviance that is…'),
      [
        C('larger, because ML fits the data less closely than REML',
          ('The ML refit maximizes exactly this likelihood, so no other estimates, the REML ones included, can '
           'give a smaller deviance.')),
        C('the same, because the two fits have the same fixed effects',
          ('The fixed effects barely move, but the variance components do, and the deviance depends on them '
           'too.')),
        C('smaller (or equal), because ML maximizes exactly that likelihood',
          ('Right: the deviance at the REML estimates is not the ML deviance a likelihood-ratio test '
           'needs.'),
          right=True),
      ]),
    Q('5.4',
      'Refitting the model by ML instead of REML usually makes the variance-component estimates…',
      [
        C('larger, because ML is less biased',
          'ML is the biased one here: it underestimates variances.'),
        C('smaller, because ML does not allow for the degrees of freedom used by the fixed effects',
          'Right: like dividing a sum of squares by n instead of n − p.',
          right=True),
        C('identical: the two differ only in the fixed effects',
          'REML and ML differ in the variance components; the fixed effects follow from them.'),
      ]),
]
