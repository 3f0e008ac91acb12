"""The recognizer's error for model files that cannot be used (``ImageError`` covers pictures)."""


class BundleError(Exception):
    """A bundle directory or model file that cannot be used; the message names it and the problem."""
