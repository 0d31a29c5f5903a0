"""skutag: automatic product tagging for e-commerce catalogues."""

__version__ = "0.1.0"
