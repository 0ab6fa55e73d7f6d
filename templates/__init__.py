"""Starting points written by `layerkit init` (package data: see templates.toml)."""
