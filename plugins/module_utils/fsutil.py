# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic writes, private staging directories and per-environment locks.

Runs on the controller and on targets: standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import tempfile
import time

from ansible_collections.airgap.packages.plugins.module_utils.errors import AirgapError, LockError


def atomic_write_bytes(path, data, mode=0o644):
    """Write data to path through a temp file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except (IOError, OSError) as exc:
        _remove_quietly(tmp)
        if exc.errno == errno.ENOSPC:
            raise AirgapError('no space left on the device holding %s; free space and run again' % directory)
        raise AirgapError('cannot write %s: %s' % (path, exc.strerror or exc))


def private_tempdir(parent, prefix):
    """A new 0700 directory with an unpredictable name under parent."""
    return tempfile.mkdtemp(prefix=prefix, dir=parent)


@contextlib.contextmanager
def environment_lock(target, timeout=600):
    """Hold an exclusive lock for one target environment (a venv, a GEM_HOME, a cache dir).

    The lock file sits beside the target so that every run against it, whatever its
    staging path, takes the same lock.
    """
    target = os.path.abspath(target)
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        os.makedirs(parent)
    lock_path = os.path.join(parent, '.%s.airgap-lock' % os.path.basename(target))
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.time() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.time() >= deadline:
                    raise LockError('another run has held the lock %s for over %d s; wait for it or remove a stale lock holder'
                                    % (lock_path, timeout))
                time.sleep(0.1)
        yield lock_path
    finally:
        os.close(fd)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
