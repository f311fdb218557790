"""The real registry's fixtures (tests/registry/conftest.py), for the modelcar tests that push and copy."""

from tests.registry.conftest import _isolated_credentials, registry, registry_binary, repo_name

__all__ = ["_isolated_credentials", "registry", "registry_binary", "repo_name"]
