"""Cached layers kept unpacked beside the volume cache (cnbsdk/lifecycle/cache_trees.py): a
rebuild moves them into place instead of extracting their tars, and the buildpack, the log
and the image cannot tell the difference. Starts: bubblewrap (real builds with the
cnb_build harness) and a small bash buildpack with a cached launch layer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

BUILD = r"""#!/usr/bin/env bash
set -euo pipefail
layer="$CNB_LAYERS_DIR/tools"
version="${TOOLS_VERSION:-1}"
toml="$CNB_LAYERS_DIR/tools.toml"
if [[ -f "$layer/version" ]] && grep -q "version = \"$version\"" "$toml" 2>/dev/null; then
  echo "reusing tools"
else
  echo "creating tools"
  rm -rf "$layer"
  mkdir -p "$layer/bin" "$layer/share"
  echo "$version" > "$layer/version"
  for i in $(seq 1 40); do echo "file $i" > "$layer/share/f$i"; done
  printf '#!/bin/sh\necho tool says hi\n' > "$layer/bin/tool"
  chmod 700 "$layer/bin/tool"
  chmod 600 "$layer/share/f1"
  ln -s bin/tool "$layer/tool-link"
fi
printf '[types]\nlaunch = true\ncache = true\n[metadata]\nversion = "%s"\n' "$version" \
  > "$CNB_LAYERS_DIR/tools.toml"
# what the buildpack finds: every file with its mode, size and mtime, every link's target
# (a link's own mtime is when it was made, by the build or by extraction alike)
(cd "$layer" && find . -type f -printf 'SEEN %P f %m %s %T@\n' \
  -o -type l -printf 'SEEN %P l %l\n' | sort)
sha256sum "$layer/share/f2" | sed 's/^/SEEN f2 /'
printf '[[processes]]\ntype = "web"\ncommand = ["tool"]\ndefault = true\n' \
  > "$CNB_LAYERS_DIR/launch.toml"
"""


@pytest.fixture(scope="module")
def buildpack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trees-bp")
    (root / "buildpack.toml").write_text(
        'api = "0.10"\n[buildpack]\nid = "test/tools"\nversion = "1.0.0"\n'
    )
    (root / "bin").mkdir()
    (root / "bin" / "detect").write_text("#!/usr/bin/env bash\nexit 0\n")
    (root / "bin" / "build").write_text(BUILD)
    for script in ("detect", "build"):
        (root / "bin" / script).chmod(0o755)
    return root


def seen(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [line for line in result.phases["BUILDING"].splitlines() if line.startswith("SEEN ")]


def tree_of(result) -> Path:  # type: ignore[no-untyped-def]
    trees = [p for p in (result.spec.cache_dir / "trees").iterdir() if p.is_dir()]
    assert len(trees) == 1, trees
    return trees[0]


def test_a_rebuild_moves_the_kept_tree_in_and_nobody_can_tell(cnb_build, buildpack: Path) -> None:  # type: ignore[no-untyped-def]
    first = cnb_build({"app.txt": "hi\n"}, [buildpack])
    assert "creating tools" in first.phases["BUILDING"]
    kept = tree_of(first)
    inode = os.stat(kept / "share" / "f2").st_ino
    assert (kept / "share" / "f2").stat().st_mtime == 315532801  # as extraction leaves it

    moved = first.rebuild()
    assert "reusing tools" in moved.phases["BUILDING"]
    assert 'Restoring data for "test/tools:tools" from cache' in moved.phases["RESTORING"]
    assert "Reusing cache layer 'test/tools:tools'" in moved.phases["EXPORTING"]
    # the same files (not an extracted copy) went in and were kept again
    assert os.stat(tree_of(moved) / "share" / "f2").st_ino == inode

    # Without the tree the tar is extracted: the buildpack sees the same files, modes and
    # mtimes, the log says the same, and the image is the same.
    shutil.rmtree(moved.spec.cache_dir / "trees")
    extracted = moved.rebuild()
    assert seen(extracted) == seen(moved)
    assert extracted.phases["RESTORING"] == moved.phases["RESTORING"]
    assert extracted.created.digest == moved.created.digest
    assert os.stat(tree_of(extracted) / "share" / "f2").st_ino != inode
    assert "SEEN share/f1 f 644 " in "\n".join(seen(moved))  # modes as the tar has them


def test_a_changed_tree_is_dropped_and_the_tar_extracted(cnb_build, buildpack: Path) -> None:  # type: ignore[no-untyped-def]
    first = cnb_build({"app.txt": "hi\n"}, [buildpack])
    expected = seen(first.rebuild())
    kept = tree_of(first)
    with open(kept / "share" / "f2", "a") as out:
        out.write("tampered\n")

    again = first.rebuild()
    assert seen(again) == expected  # the original contents, from the tar
    assert "tampered" not in (tree_of(again) / "share" / "f2").read_text()


def test_trees_of_layers_no_longer_cached_are_removed(cnb_build, buildpack: Path) -> None:  # type: ignore[no-untyped-def]
    first = cnb_build({"app.txt": "hi\n"}, [buildpack])
    old = tree_of(first)
    again = first.rebuild(env={"TOOLS_VERSION": "2"})  # a new layer: a new diffID
    assert "creating tools" in again.phases["BUILDING"]
    assert tree_of(again) != old and not old.exists()
