"""ore: a self-hosted platform for building and serving LLM applications."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ore")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
