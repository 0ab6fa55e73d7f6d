"""layerkit: build, verify, publish and release AWS Lambda layers for Python."""

from __future__ import annotations

__version__ = "0.1.0"
