"""Checks for understanding of chapter 3: The hierarchical model."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('3.1',
      ("A school's least-squares line varies around the population mean line with variance Δⱼ = T + "
       "Vⱼ. Which part can a better design of the school's sample (more students, wider spread of "
       'SES) make smaller?'),
      [
        C('T, the variance of the true lines',
          ('T says how much the schools really differ; no sample of students inside a school changes '
           'that.')),
        C('both',
          ('Only the sampling part depends on the design; T is a property of the population of '
           'schools.')),
        C("Vⱼ = σ²(Xⱼ'Xⱼ)⁻¹, the sampling variance",
          "Right: more students and more spread in SES make Xⱼ'Xⱼ larger.",
          right=True),
      ]),
    Q('3.2',
      ('In βⱼ₀ = γ₀₀ + γ₀₁Wⱼ + uⱼ₀ with Wⱼ = 1 for Catholic schools and 0 for Public ones, what is '
       'γ₀₁?'),
      [
        C('the Catholic − Public difference in mean intercepts',
          'Right: set Wⱼ = 1, then Wⱼ = 0, and subtract.',
          right=True),
        C('the mean intercept of Catholic schools',
          'That is γ₀₀ + γ₀₁ (set Wⱼ = 1).'),
        C('the variance of the intercepts within a sector',
          'That is τ₀₀, the variance of uⱼ₀.'),
      ]),
    Q('3.3',
      ('Substitute the slope model βⱼ₁ = γ₁₀ + γ₁₁Wⱼ + uⱼ₁ into the level-1 model. What appears in '
       'the fixed part?'),
      [
        C('a cross-level interaction γ₁₁WⱼXᵢⱼ',
          ('Right: the level-2 predictor of a slope multiplies the level-1 variable; uⱼ₁Xᵢⱼ goes to '
           'the random part.'),
          right=True),
        C('a second random intercept',
          'The random part gains uⱼ₁Xᵢⱼ, a random slope, not an intercept.'),
        C('nothing new: a slope model changes only the random part',
          'γ₁₁Wⱼ multiplies Xᵢⱼ and stays in the fixed part as an interaction.'),
      ]),
]
