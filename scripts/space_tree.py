"""The commit to push to the Hugging Face Space: `python scripts/space_tree.py [REV]` prints its hash.

The Hub refuses a push holding binary files that are not stored with Xet or LFS, and this
repository keeps its screenshots (docs/screenshots/*.png) in plain git, in every commit since
they were added. So the Space gets one commit with no parent: REV's tree (default HEAD) minus
every binary file, judged as git does (a NUL byte in the first 8000 bytes). Its author, dates and
message come from REV, so the same REV always gives the same commit. Only git objects are written:
the work tree, the index and every branch stay as they are.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

SNIFF = 8000  # the bytes git reads to tell binary from text (buffer_is_binary in git's xdiff-interface.c)


def git(*args: str, data: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    return subprocess.run(["git", *args], input=data, env=env, capture_output=True, check=True).stdout


def entries(rev: str) -> list[tuple[str, str, str, str]]:
    """(mode, type, object, path) of every file in REV's tree, submodules included."""
    found = []
    for record in git("ls-tree", "-r", "-z", "--full-tree", rev).split(b"\0"):
        if record:
            info, path = record.decode("utf-8", "surrogateescape").split("\t", 1)
            mode, kind, obj = info.split()
            found.append((mode, kind, obj, path))
    return found


def is_binary(obj: str) -> bool:
    return b"\0" in git("cat-file", "blob", obj)[:SNIFF]


def space_commit(rev: str = "HEAD") -> str:
    kept = [(mode, obj, path) for mode, kind, obj, path in entries(rev) if kind != "blob" or not is_binary(obj)]
    listing = "".join(f"{mode} {obj}\t{path}\0" for mode, obj, path in kept)
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": os.path.join(scratch, "index")}  # not the repository's index
        git("update-index", "-z", "--index-info", data=listing.encode("utf-8", "surrogateescape"), env=env)
        tree = git("write-tree", env=env).decode().strip()
    an, ae, ad, cn, ce, cd, message = git("log", "-1", "--format=%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00%B",
                                          "--date=raw", rev).decode().split("\0")
    source = git("rev-parse", rev).decode().strip()
    env = {**os.environ, "GIT_AUTHOR_NAME": an, "GIT_AUTHOR_EMAIL": ae, "GIT_AUTHOR_DATE": ad,
           "GIT_COMMITTER_NAME": cn, "GIT_COMMITTER_EMAIL": ce, "GIT_COMMITTER_DATE": cd}
    message = f"{message.rstrip()}\n\nSpace copy of {source}, without binary files (the Hub wants them in Xet).\n"
    return git("commit-tree", tree, env=env, data=message.encode()).decode().strip()


if __name__ == "__main__":
    print(space_commit(*sys.argv[1:2]))
