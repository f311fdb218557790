"""``python -m modeloci``."""

from modeloci.cli import entry

entry()
