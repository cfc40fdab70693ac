"""The steps around a build: what an image holds (one merged SBOM), which known
vulnerabilities that is exposed to (an offline OSV database), and cosign-compatible signatures
and attestations."""
