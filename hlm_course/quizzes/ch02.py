"""Checks for understanding of chapter 2: Six ways to compare Catholic and Public schools."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('2.1',
      ('Methods 2a (a line per school, averaged with equal weights) and 3 (two stages) give identical'
       ' estimates. What differs?'),
      [
        C('Method 3 weights the schools by their numbers of students.',
          'Both weight every school equally; that is why their estimates are identical.'),
        C(("Their standard errors: 2a uses only the scatter of students around their school's line, 3 "
          'the scatter of the school lines around their sector mean.'),
          ("Right: only 3's standard errors grow when the schools spread out, so only they generalize"
           ' to the population of schools.'),
          right=True),
        C('Nothing: identical estimates come with identical standard errors.',
          ("The chapter's experiment moved the school lines apart: 2a's standard errors stayed the "
           "same, 3's grew.")),
      ]),
    Q('2.2',
      'What does the pooled OLS slope of SES (Method 1) estimate?',
      [
        C("the within-school effect of a student's SES",
          ('Only if SES had no between-school variation; otherwise the pooled slope also carries the '
           'between-school slope.')),
        C('the between-school slope of mean achievement on mean SES',
          'That is Method 4; the pooled slope mixes it with the within-school slope.'),
        C(('a weighted average of the within- and between-school slopes, weighted by how SES spreads '
          'within and between schools'),
          "Right: β̂_P = (W_xx β̂_W + B_xx β̂_B)/(W_xx + B_xx), a blend set by the sample's design.",
          right=True),
      ]),
    Q('2.3',
      ("In five groups y falls with x (within slope −1), and group means rise with the groups' mean x"
       ' (between slope +1.5). What can the pooled slope be?'),
      [
        C("Only negative: every group's slope is negative.",
          ("That is Simpson's paradox: the pooled slope can have the opposite sign of every "
           'within-group slope.')),
        C('Anything between −1 and +1.5, positive when the groups lie far apart in x.',
          ('Right: it is a weighted average of the two, and the between slope weighs more when most '
           'of the variation in x is between groups.'),
          right=True),
        C('Exactly 0.25, the average of −1 and 1.5.',
          'The weights are the within- and between-group sums of squares of x, not one half each.'),
      ]),
]
