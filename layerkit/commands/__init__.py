"""Typer commands: each parses options, calls one use case and renders its result."""
