"""Self-checks of Lab 2 (registered with hlm_course.labs.register)."""
