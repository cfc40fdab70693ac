"""Images without a daemon: references, reproducible layers, layouts, archives, registries."""
