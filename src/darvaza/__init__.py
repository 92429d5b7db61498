"""Darvaza: a self-hosted multi-tenant membership platform with its operations built in."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("darvaza")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
