"""Balai: the platform that regional cyber cooperation runs on."""

__version__ = "0.1.0"
