"""Checks for understanding of chapter 6: Each school's line: shrinkage and confidence intervals."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('6.1',
      ("A school's shrinkage estimate is a matrix-weighted average of its own least-squares line and "
       'the line the model predicts for it. A school with few students and a narrow spread of the '
       'predictor gets…'),
      [
        C('more weight on its own line',
          'That is a large, informative school: small Vⱼ, Λⱼ near the identity.'),
        C('equal weights, as every school does',
          "The weights depend on the school's precision Vⱼ relative to T."),
        C('more weight on the predicted line',
          'Right: its own line is imprecise (large Vⱼ), so Λⱼ = T(T + Vⱼ)⁻¹ is small.',
          right=True),
      ]),
    Q('6.2',
      ('With the variance components known, how do intervals built around the shrinkage estimates '
       "(eq. 3.16) cover the schools' true lines?"),
      [
        C('95% for every school, whatever its true line',
          ('Shrinkage pulls every estimate towards the mean, so a school whose true line is far from '
           'the mean is covered less often.')),
        C("95% on average over the schools' random effects, less for a school far from the mean line",
          'Right: coverage holds averaged over uⱼ, not school by school.',
          right=True),
        C('never 95%, because shrinkage estimates are biased',
          'Averaged over the random effects the bias cancels, and the intervals attain their level.'),
      ]),
    Q('6.3',
      ('In practice T and σ² are estimated, and the intervals plug the estimates in. What does that '
       'do to their coverage?'),
      [
        C('It raises it: estimated variances are always too large.',
          ('Nothing makes the estimates too large; and the intervals do not allow for their '
           'uncertainty.')),
        C('Nothing: with known or estimated variances coverage is the same.',
          ("The estimates vary from sample to sample, and that variation is not in the interval's "
           'width.')),
        C(('It tends to lower it: the intervals ignore the uncertainty of the estimated variance '
          'components.'),
          "Right: the chapter's simulation found the plug-in intervals slightly under-cover.",
          right=True),
      ]),
]
