"""Distribution: turning buildpacks into what a platform consumes (directories, buildpackages)."""
