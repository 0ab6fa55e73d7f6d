"""`python -m layerkit` is the same as the `layerkit` console script."""

from __future__ import annotations

from layerkit.cli import main

if __name__ == "__main__":
    main()
