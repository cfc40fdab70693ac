"""Keeping a buildpack's dependency catalog current: ``cnbsdk deps update``.

``sources`` lists the versions a package registry offers (the npm registry today),
``update`` picks the wanted ones per ``[[metadata.dependency-constraints]]``, downloads the
new artifacts to compute their SHA256 and rewrites ``[[metadata.dependencies]]``. Host-side
only: it is never vendored into a buildpack.
"""
