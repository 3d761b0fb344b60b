"""Checks for understanding of chapter 16: Planning a study by simulation."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('16.1',
      ('A planned study of a school-level effect (the sector gap) has 40 schools of 20 pupils. Which '
       'change lowers the standard error of the gap the most?'),
      [
        C('doubling the number of pupils per school',
          ('It shrinks only the pupil part σ²/n of 4(τ₀₀ + σ²/n)/J; the school part τ₀₀ stays, a '
           'floor no number of pupils breaks.')),
        C('doubling the number of schools',
          'Right: J divides both parts of the variance, 4(τ₀₀ + σ²/n)/J.',
          right=True),
        C('both help equally: they test the same number of pupils',
          ('For a school-level effect pupils in the same school are partly redundant; schools, not '
           'pupils, set the precision.')),
      ]),
    Q('16.2',
      ('1000 simulated studies reject the null hypothesis 800 times. What is the Monte Carlo standard'
       ' error of the estimated power?'),
      [
        C('about 0.013',
          'Right: √(0.8 × 0.2 / 1000) ≈ 0.0126.',
          right=True),
        C('about 0.4',
          ("That is √(0.8 × 0.2), the SD of one study's 0/1 outcome; divide by the 1000 studies "
           'first.')),
        C('0, because the simulation was run',
          'A different seed gives a different count: the estimate has a sampling error of its own.'),
      ]),
    Q('16.3',
      'Why check the Type I error in a planning simulation?',
      [
        C(('To see that the test rejects a true null hypothesis as often as its level says; with few '
          'schools a z test rejects too often.'),
          'Right: with few schools use t with J − 2 degrees of freedom.',
          right=True),
        C('Because power is always 1 minus the Type I error.',
          ('Power and Type I error are rejection rates under different truths; neither determines the'
           ' other.')),
        C('It is not needed when the model is fitted by REML.',
          'REML does not make a z test exact in small samples.'),
      ]),
]
