"""Registries: references, credentials, and a distribution-API client over an injected httpx.Client."""
