"""ems: a colocated execution management system for crypto venues."""

__version__ = "0.1.0"
