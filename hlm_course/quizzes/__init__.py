"""Question banks of the checks for understanding, one module per chapter (``ch08.py``: ``QUESTIONS``).

See :mod:`hlm_course.quiz` for how they are shown and answered.
"""
