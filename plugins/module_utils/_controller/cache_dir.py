# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cache directories on the controller, <dest>/<key>/, as wheel_cache and gem_cache keep them.

One mechanism for both: each key's directory is locked (in key order, by every run); new files are
fetched or built into a workspace beside the caches and placed into a cache by a rename from there;
manifest.json is written last (the commit point); pruning removes what the manifest does not list;
the report and diff have the same shape in both modules.

One rule for what a killed run leaves behind: it can only leave a workspace, and a workspace whose
lock nobody holds is removed by the next run. Nothing half-written ever sits in a cache directory.
Runs on the controller: standard library only.
"""

import binascii
import contextlib
import errno
import fcntl
import os
import shutil
import tempfile

from .._common.errors import AirgapError
from .._common.fsutil import environment_lock, lock_path, private_tempdir
from .._common.manifest import COMPANION_NAMES, MANIFEST_NAME, write_manifest

WORKSPACE_PREFIX = '.workspace-'
_IN_USE = '.in-use'


@contextlib.contextmanager
def locked(dest, keys, check_mode=False):
    """Hold the lock of every key's cache directory, in key order; a build makes dest first, and removes the
    workspaces of killed runs once it holds the locks. A check-mode run reads under the locks that exist (so that
    it never reports a build in progress half done) and creates and removes nothing."""
    if not check_mode:
        _makedirs(dest, 'dest')
    with contextlib.ExitStack() as locks:
        for key in sorted(set(keys)):
            path = os.path.join(dest, key)
            if os.path.isdir(dest) and (not check_mode or os.path.exists(lock_path(path))):
                locks.enter_context(environment_lock(path))
        if not check_mode:
            remove_abandoned_workspaces(dest)
        yield


def may_be_current(dest, check_mode):
    """Whether caches under dest can be reported current without a build: dest exists, and nothing a build would
    tidy (a killed run's workspace) is there, except in check mode, where the build leaves it."""
    return os.path.isdir(dest) and (check_mode or not abandoned_workspaces(dest))


@contextlib.contextmanager
def workspace(dest, check_mode=False):
    """A private scratch directory beside the caches (same filesystem, so that files are linked and renamed into
    them), held under its own lock while in use and removed afterwards."""
    if check_mode or not os.path.isdir(dest):
        path = tempfile.mkdtemp(prefix='airgap-packages-workspace-')
        lock = _hold(path)
    else:
        with _workspaces_lock(dest):
            path = private_tempdir(dest, WORKSPACE_PREFIX)
            lock = _hold(path)
    try:
        yield path
    finally:
        os.close(lock)
        shutil.rmtree(path, ignore_errors=True)


def _hold(path):
    lock = os.open(os.path.join(path, _IN_USE), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def abandoned_workspaces(dest):
    """The workspaces under dest whose lock nobody holds: what killed runs left. Only looks."""
    found = []
    for name in sorted(os.listdir(dest)) if os.path.isdir(dest) else []:
        path = os.path.join(dest, name)
        if not name.startswith(WORKSPACE_PREFIX) or os.path.islink(path) or not os.path.isdir(path):
            continue
        try:
            lock = os.open(os.path.join(path, _IN_USE), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            found.append(path)
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            found.append(path)
        except (IOError, OSError):
            pass
        finally:
            os.close(lock)
    return found


def remove_abandoned_workspaces(dest):
    """Remove what abandoned_workspaces finds (it looks first: with nothing to tidy, no lock is taken)."""
    if abandoned_workspaces(dest):
        with _workspaces_lock(dest):
            for path in abandoned_workspaces(dest):
                shutil.rmtree(path, ignore_errors=True)


def _workspaces_lock(dest):
    # Making and removing workspaces never overlap, so a new workspace is never taken for abandoned before its lock.
    return environment_lock(os.path.join(dest, WORKSPACE_PREFIX))


class Placer:
    """Puts files into caches from the workspace scratch: each through a private name in the workspace, then renamed
    into place, so that a cache never holds a half-written file. The first placing of a source is a hard link (or a
    copy across filesystems); later ones are copies, so that no two caches share an inode that a change to one would
    alter in both."""

    def __init__(self, scratch):
        self.scratch = scratch
        self.placed = set()

    def place(self, source, destination):
        directory = os.path.dirname(destination)
        _makedirs(directory)
        # A fresh name in the private workspace: os.link and copyfile create the file themselves.
        temporary = os.path.join(self.scratch, 'place-%s' % binascii.hexlify(os.urandom(8)).decode('ascii'))
        try:
            try:
                if source in self.placed:
                    raise OSError(errno.EXDEV, 'a copy of its own')
                os.link(source, temporary)
            except OSError:
                shutil.copyfile(source, temporary)
            os.chmod(temporary, 0o644)
            os.rename(temporary, destination)
        except (IOError, OSError) as exc:
            _remove(temporary)
            if exc.errno == errno.ENOSPC:
                raise AirgapError('no space left on the device holding %s; free space and run again, the previous cache '
                                  'is untouched' % directory)
            raise AirgapError('cannot place %s in %s: %s' % (os.path.basename(destination), directory, exc.strerror or exc))
        self.placed.add(source)


def commit(path, new, old):
    """Write new's manifest into the cache at path unless old already is it; True when written."""
    if old is not None and new.digest == old.digest:
        return False
    _makedirs(path)
    write_manifest(path, new)
    return True


def stale_names(path, filenames):
    """What the cache at path holds beyond filenames (the artifacts its manifest lists) and the manifest's companions."""
    if not os.path.isdir(path):
        return []
    keep = set(filenames) | set(COMPANION_NAMES)
    return sorted(name for name in os.listdir(path) if name not in keep)


def prune(path, filenames, check_mode=False):
    """Remove (or in check mode, only name) what stale_names finds; returns the names."""
    names = stale_names(path, filenames)
    if not check_mode:
        for name in names:
            target = os.path.join(path, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target, ignore_errors=True)
            else:
                _remove(target)
    return names


def report(key, path, before, after, pruned, changed, **extra):
    """One cache's entry in a module result: added and removed from the file lists before and after."""
    entry = {'key': key, 'path': path, 'added': sorted(set(after) - set(before)),
             'removed': sorted(set(before) - set(after)), 'pruned': list(pruned), 'changed': bool(changed)}
    entry.update(extra)
    return entry


def diff(path, before, after):
    """Ansible's diff of one cache: its file list before and after."""
    header = os.path.join(path, MANIFEST_NAME)
    return {'before_header': header, 'after_header': header,
            'before': ''.join(name + '\n' for name in sorted(before)), 'after': ''.join(name + '\n' for name in sorted(after))}


def _makedirs(path, what=None):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise AirgapError('cannot create %s%s: %s' % (what + ' ' if what else '', path, exc.strerror or exc))


def _remove(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise AirgapError('cannot remove %s: %s' % (path, exc.strerror or exc))
