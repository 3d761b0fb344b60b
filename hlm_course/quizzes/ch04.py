"""Checks for understanding of chapter 4: From the simple to the complex."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('4.1',
      ("In the one-way ANOVA with random effects, a school's mean is shrunk towards the grand mean by"
       " the factor λⱼ = τ₀₀/(τ₀₀ + σ²/nⱼ). Which school's mean is pulled in by the largest fraction "
       'of its distance?'),
      [
        C('the largest school',
          'Its mean is the most precise, so λⱼ is closest to 1 and it moves the least.'),
        C('the smallest school',
          ('Right: σ²/nⱼ is largest there, so λⱼ is smallest and the estimate leans most on the grand'
           ' mean.'),
          right=True),
        C('the school whose mean is farthest from the grand mean',
          ("λⱼ does not depend on the school's mean: a far school moves farther in points, but by the"
           ' same fraction as a near school of the same size.')),
      ]),
    Q('4.2',
      ("Which of a mixed model's three kinds of quantities are predicted (BLUPs) rather than "
       'estimated?'),
      [
        C('the fixed effects, such as γ₀₀',
          "They are parameters, estimated (by GLS at the variance components' estimates)."),
        C('the variance components, such as τ₀₀',
          'They are parameters, estimated by REML or ML.'),
        C('the random effects uⱼ',
          ('Right: they are random variables, not parameters; their conditional means given the data '
           'are the BLUPs.'),
          right=True),
      ]),
    Q('4.3',
      'Suppose τ₀₀ = 10 and σ² = 40. At which school size nⱼ is the shrinkage factor λⱼ exactly 0.5?',
      [
        C('40',
          'That is σ² itself; λ = 0.5 needs σ²/n = τ₀₀.'),
        C('0.25',
          'That is τ₀₀/σ², the inverse of the answer: solve σ²/n = τ₀₀ for n.'),
        C('4',
          'Right: λ = 0.5 when σ²/n = τ₀₀, so n = σ²/τ₀₀ = 40/10.',
          right=True),
        C('10',
          'That is τ₀₀; the school size enters through σ²/nⱼ.'),
      ]),
]
