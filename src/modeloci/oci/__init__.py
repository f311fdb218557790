"""OBJECT MODEL: OCI digests, media types, descriptors, manifests, layouts and archives.

Knows nothing of Modelfiles or model formats.
"""
