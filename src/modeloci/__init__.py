"""modeloci: package AI models as reproducible OCI artifacts from a Modelfile."""

__version__ = "0.1.0.dev0"
