"""The AWS boundary: clients are made in `session`, errors translated in `errors`."""
