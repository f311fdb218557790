"""modeloci's version, at the bottom level: the CLI shows it and provenance records it."""

__version__ = "0.1.0.dev0"
