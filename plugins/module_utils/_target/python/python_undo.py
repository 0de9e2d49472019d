# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Undoing an installer run that failed: the disk filled up, the installer died, or its check failed.

Before pip or uv runs, the environment's install directories are listed (each path with its kind,
inode, size and mtime), and every file the run may replace or remove is hard-linked into a private
directory inside the environment (copied where no link can be made). No data is copied for a link,
so keeping costs no space; pip and uv replace a file by unlinking or renaming it, which leaves the
linked original intact. Small files that may be rewritten in place (the scripts directory) are
copied instead. Undoing removes every path the listing does not have, and renames each kept file
back to where the listing had it; removing and renaming need no free space, so an undo works on a
full disk. Runs on targets: standard library only.
"""

import errno
import os
import shutil
import stat
import tempfile
from collections import namedtuple

from ..._common.fsutil import remove_leftovers

KEEP_PREFIX = '.airgap-undo-'

Entry = namedtuple('Entry', ['kind', 'dev', 'ino', 'size', 'mtime', 'mode', 'link'])
"""One listed path: kind is 'f' (file), 'l' (symbolic link), 'd' (directory) or 'o' (anything else)."""

_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES, getattr(errno, 'ENOTSUP', errno.EPERM))


def entry_of(path):
    """The Entry of path (not following a link), None when it does not exist."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    mode = info.st_mode
    if stat.S_ISREG(mode):
        kind = 'f'
    elif stat.S_ISLNK(mode):
        kind = 'l'
    elif stat.S_ISDIR(mode):
        kind = 'd'
    else:
        kind = 'o'
    link = os.readlink(path) if kind == 'l' else None
    return Entry(kind, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, stat.S_IMODE(mode), link)


def list_tree(roots, skip=()):
    """{path: Entry} of every path under roots (the roots included), without descending into skip or links."""
    skip = set(os.path.abspath(path) for path in skip)
    entries = {}
    for root in roots:
        root = os.path.abspath(root)
        top = entry_of(root)
        if top is None or top.kind != 'd' or root in entries:
            continue
        entries[root] = top
        for directory, dirnames, filenames in os.walk(root):
            for name in list(dirnames):
                path = os.path.join(directory, name)
                if path in skip:
                    dirnames.remove(name)
                    continue
                entry = entry_of(path)
                if entry is not None:
                    entries[path] = entry
            for name in filenames:
                path = os.path.join(directory, name)
                entry = entry_of(path)
                if entry is not None:
                    entries[path] = entry
    return entries


def _unchanged(before, now):
    if now is None or now.kind != before.kind:
        return False
    if before.kind == 'f':
        return (now.dev, now.ino, now.size, now.mtime) == (before.dev, before.ino, before.size, before.mtime)
    if before.kind == 'l':
        return now.link == before.link
    if before.kind == 'd':
        return True
    return (now.dev, now.ino) == (before.dev, before.ino)


def _written_in_place(before, current, kept):
    """True when the listed file was rewritten without a new inode while kept as a link: the link holds the new content too."""
    if current is None or current.kind != 'f' or (current.dev, current.ino) != (before.dev, before.ino):
        return False
    link = entry_of(kept)
    return link is not None and (link.dev, link.ino) == (before.dev, before.ino)


def _remove(path, entry):
    if entry.kind == 'd':
        shutil.rmtree(path)
    else:
        os.unlink(path)


class Undo:
    """The listing and kept files of one environment, taken just before an installer runs."""

    def __init__(self, roots, keep_dir, entries, kept):
        self.roots = roots
        self.keep_dir = keep_dir
        self.entries = entries
        self.kept = kept

    @classmethod
    def prepare(cls, roots, at_stake, copy=()):
        """List roots and keep every existing file of at_stake (paths the run may replace or remove) inside roots;
        the files of copy are kept as copies, not links.

        The keep directory goes into the first root that exists, so that its links stay on the environment's
        filesystem. A root that does not exist yet is removed again by undo(), with all the run put there.
        """
        roots = [os.path.abspath(root) for root in roots]
        existing = [root for root in roots if os.path.isdir(root)]
        if not existing:
            return cls(roots, None, {}, {})
        remove_leftovers(existing[0], KEEP_PREFIX)
        keep_dir = tempfile.mkdtemp(prefix=KEEP_PREFIX, dir=existing[0])
        try:
            entries = list_tree(roots, skip=[keep_dir])
            kept = {}
            copied = set(os.path.abspath(p) for p in copy)
            for index, path in enumerate(sorted(set(os.path.abspath(p) for p in at_stake) | copied)):
                entry = entries.get(path)
                if entry is None or entry.kind != 'f':
                    continue
                keep = os.path.join(keep_dir, str(index))
                try:
                    if path in copied:
                        shutil.copy2(path, keep)
                    else:
                        os.link(path, keep)
                except OSError as exc:
                    if path in copied or exc.errno not in _NO_LINK:
                        raise
                    shutil.copy2(path, keep)
                kept[path] = keep
        except BaseException:
            shutil.rmtree(keep_dir, ignore_errors=True)
            raise
        return cls(roots, keep_dir, entries, kept)

    def undo(self):
        """Put the roots back as listed; returns (paths removed, paths put back, paths that could not be put back)."""
        now = list_tree(self.roots, skip=[self.keep_dir] if self.keep_dir else [])
        removed, restored, lost = [], [], []
        gone = []
        for path in sorted(path for path in now if path not in self.entries):
            if any(path.startswith(directory + os.sep) for directory in gone):
                continue
            _remove(path, now[path])
            removed.append(path)
            if now[path].kind == 'd':
                gone.append(path)
        for path in sorted(self.entries):
            before = self.entries[path]
            current = entry_of(path)
            if _unchanged(before, current):
                continue
            if before.kind == 'd':
                if current is not None:
                    _remove(path, current)
                os.mkdir(path, before.mode)
            elif before.kind == 'l':
                if current is not None:
                    _remove(path, current)
                os.symlink(before.link, path)
            elif before.kind == 'f' and path in self.kept and not _written_in_place(before, current, self.kept[path]):
                if current is not None:
                    _remove(path, current)
                os.rename(self.kept.pop(path), path)
            else:
                lost.append(path)
                continue
            restored.append(path)
        return removed, restored, lost

    def discard(self):
        if self.keep_dir:
            shutil.rmtree(self.keep_dir, ignore_errors=True)
