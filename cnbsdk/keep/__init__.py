"""Keeping images current: image records in an embedded store, builds with kpack's reasons,
history and logs, and the reconcile loop (docs/keeping-images-current.md)."""
