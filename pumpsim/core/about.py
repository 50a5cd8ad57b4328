"""What pumpsim is: its version and the disclaimer every command and report carries."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["DISCLAIMER", "VERSION"]

try:
    VERSION = version("pumpsim")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.1.0"

DISCLAIMER = (
    "pumpsim is a simulator for refill planning and teaching. It is NOT a medical device: "
    "do not use it to program a pump or to make clinical decisions."
)
