"""Checks for understanding of chapter 9: Intercepts and slopes as outcomes."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('9.1',
      ('In the slope model βⱼ₁ = γ₁₀ + γ₁₁MEANSESⱼ + γ₁₂SECTORⱼ + uⱼ₁, which term of the combined '
       'model does γ₁₂ multiply?'),
      [
        C('cses × sector, a cross-level interaction',
          'Right: a level-2 predictor of a slope multiplies the level-1 variable.',
          right=True),
        C('sector',
          "sector alone is the intercept model's term (γ₀₂)."),
        C('the random effect uⱼ₁',
          'uⱼ₁cses is in the random part; γ₁₂ is a fixed effect.'),
      ]),
    Q('9.2',
      'The estimate of γ₁₂ (cses:sector) is negative. What does that mean?',
      [
        C(("Within Catholic schools achievement depends less on a student's SES than within Public "
          'schools of the same mean SES.'),
          'Right: Catholic schools have flatter SES slopes.',
          right=True),
        C('Catholic schools have lower mean achievement.',
          'That would be the sector main effect on the intercept (γ₀₂), which is positive.'),
        C('Catholic students have lower SES.',
          'The coefficient is about how achievement depends on SES, not about the level of SES.'),
      ]),
    Q('9.3',
      ("Adding level-2 predictors of the slope changes τ̂₁₁ from the random-coefficients model's "
       'value. Can the proportional reduction (τ̂₁₁,RC − τ̂₁₁,new)/τ̂₁₁,RC be negative?'),
      [
        C('No: like R² in regression it lies between 0 and 1.',
          ('Variance components are estimated separately in each model; nothing forces the new τ̂₁₁ '
           'to be smaller.')),
        C('Yes: the estimates can rise when predictors are added, so the ratio is not a true share.',
          ('Right: read it as a comparison of two estimates, not as variance explained in the sense '
           'of R².'),
          right=True),
      ]),
]
