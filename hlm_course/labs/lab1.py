"""Self-checks of Lab 1 (registered with hlm_course.labs.register)."""
