"""Checks for understanding of chapter 19: Crossed memberships."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('19.1',
      'When are two classifications of pupils, by primary and by secondary school, crossed rather than nested?',
      [
        C('When every pupil belongs to one primary and one secondary school.',
          ('That is true of nested data too; what matters is whether the pupils of one primary all go to '
           'the same secondary.')),
        C("When a primary school's pupils go on to more than one secondary school (and a secondary takes "
          'pupils from several primaries).',
          'Right: then neither classification sits inside the other.',
          right=True),
        C('When there are more primary than secondary schools.',
          ('Nested data also have more units at the lower level; a cross-tabulation of the memberships, '
           'not the counts, tells the two apart.')),
      ]),
    Q('19.2',
      ('In the crossed random-intercept model, with variances τ_b (primary), τ_c (secondary) and σ², what is '
       'the correlation of two pupils from the same primary school but different secondary schools?'),
      [
        C('(τ_b + τ_c)/(τ_b + τ_c + σ²)',
          'That is the correlation of two pupils who share both schools.'),
        C('τ_b/(τ_b + τ_c + σ²)',
          'Right: they share only the primary-school effect.',
          right=True),
        C('τ_b/(τ_b + σ²)',
          ("Each pupil's total variance still includes the secondary-school variance τ_c, which belongs in "
           'the denominator.')),
      ]),
    Q('19.3',
      ('An analyst fits only (1 | second), ignoring the primary schools. What happens to the '
       'primary-school variation?'),
      [
        C('It disappears from the model, so the fit is the same.',
          ('Variation in the data does not disappear: the model has to put it somewhere, and the '
           'criterion and estimates change.')),
        C("It moves to the pupil-level σ² and partly to the secondary schools' variance, and the standard "
          'errors of school-level effects come out too small.',
          'Right: the chapter shows both moves on the Scottish data.',
          right=True),
        C('It is estimated as a fixed effect of the primary school.',
          'Only if primary school were entered as a predictor; dropping its random effect does not do that.'),
      ]),
]
