"""Model artifact formats: Docker's model format (and, later, CNCF ModelPack)."""
