"""The engine's exception."""


class MixedModelError(ValueError):
    """Raised for input that cannot define the requested mixed model."""
