"""Model artifact formats: Docker's model format (and, later, CNCF ModelPack)."""

# How far a compressed layer may inflate, at most, when it is listed or unpacked (formats.layertar); here, so
# that the public API can name the default without importing the tar reader (start-up time).
MAX_INFLATE_RATIO = 100
