"""Checks for understanding of chapter 1: Hierarchical data."""

from ..quiz import Choice as C, Question as Q

QUESTIONS = [
    Q('1.1',
      'Which of these variables of the 40-school data is a level-2 variable?',
      [
        C("the proportion of girls in the student's school, hc.cvar(female, school)",
          ("It takes one value in every school (the school's mean of female), so it is level 2 — a "
           'derived, contextual one.'),
          right=True),
        C("mathach, the student's math achievement",
          'It varies from student to student inside a school, so it is level 1.'),
        C("female, the student's sex",
          'It varies within the coeducational schools, so it is level 1.'),
        C('ses − its school mean, hc.dvar(ses, school)',
          ('It varies within schools (its school mean is zero), so it is level 1, centred within '
           'groups.')),
      ]),
    Q('1.2',
      'What is the mean of hc.dvar(ses, school) within each school?',
      [
        C('the overall mean of ses',
          "That would be centring at the grand mean; dvar subtracts each school's own mean."),
        C("the school's mean ses",
          'That is hc.cvar(ses, school), the other half of the decomposition ses = cvar + dvar.'),
        C('zero',
          ("Each student's deviation from the school mean: the deviations sum to zero in every "
           'school.'),
          right=True),
      ]),
    Q('1.3',
      ("Sector and the school's proportion of girls are both constant within schools. What sets them "
       'apart?'),
      [
        C('Sector is level 2 and the proportion of girls is level 1.',
          'Both are level 2: each takes one value per school.'),
        C(('The proportion of girls would change with another sample of students from the same school;'
          ' Sector would not.'),
          ('Right: it is a derived (contextual, compositional) variable, computed from the sampled '
           'students.'),
          right=True),
        C('Nothing: both are characteristics of the school.',
          ('Sector describes the school itself; the proportion of girls is computed from the sampled '
           'students and varies with the sample.')),
      ]),
]
