"""nitrogen: an open, Linux-first reimplementation of NitroGen."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nitrogen-cli")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"
