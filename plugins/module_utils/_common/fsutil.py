# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic writes, private staging directories, per-environment locks, and the walk that decides whether a
directory may be trusted with what is staged in it.

Runs on the controller and on targets: standard library only.
"""

import contextlib
import errno
import fcntl
import os
import shutil
import pwd
import stat
import tempfile
import time

from .errors import AirgapError, LockError


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
    lock_file = lock_path(target)
    parent = os.path.dirname(lock_file)
    try:
        if not os.path.isdir(parent):
            os.makedirs(parent)
        # Never through a link: whoever planted one would choose which file gets created.
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ELOOP:
            raise LockError('the lock file %s is a symbolic link: remove the link and run again' % lock_file)
        raise LockError('cannot open the lock file %s (%s): the directory %s must exist and be writable by the user '
                        'this task runs as' % (lock_file, exc.strerror or exc, parent))
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
                                    % (lock_file, timeout))
                time.sleep(0.1)
        yield lock_file
    finally:
        os.close(fd)


def remove_leftovers(root, prefix):
    """Remove the directories under root whose names start with prefix: what killed runs left. Only called while
    holding the lock that every run takes for as long as its own such directory exists, so the lock tells, not an
    age. Returns their paths."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    stale = [os.path.join(root, name) for name in sorted(names) if name.startswith(prefix)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def lock_is_held(target):
    """Whether a run holds the lock of target right now; only looks (creates nothing, waits for nothing)."""
    try:
        fd = os.open(lock_path(target), os.O_RDONLY | os.O_NOFOLLOW)
    except (IOError, OSError) as exc:
        # No lock file: no run ever locked target here. Anything else: be safe and assume a run holds it.
        return exc.errno != errno.ENOENT
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except (IOError, OSError):
        return True
    finally:
        os.close(fd)


def lock_path(target):
    target = os.path.abspath(target)
    return os.path.join(os.path.dirname(target), '.%s.airgap-lock' % os.path.basename(target))


class UnsafePathError(AirgapError):
    """A directory that someone other than root and the user the task runs as could change, or a path through a link
    where none may be."""


# How many symbolic links one walk follows before it calls the path a loop (Linux's own limit).
_MAX_LINKS = 40
_NOT_DIRECTORY = {stat.S_IFREG: 'a regular file', stat.S_IFLNK: 'a symbolic link', stat.S_IFIFO: 'a named pipe',
                  stat.S_IFSOCK: 'a socket', stat.S_IFCHR: 'a character device', stat.S_IFBLK: 'a block device'}


def trusted_owners():
    """Who may own a trusted directory: root, and the user this task runs as (with become, the become user)."""
    return set((0, os.geteuid()))


def _owner_name(uid):
    try:
        return '%d (%s)' % (uid, pwd.getpwuid(uid).pw_name)
    except KeyError:
        return '%d' % uid


def check_trusted_directory(path, create=False, private=1, what='the staging directory'):
    """Walk the absolute path from / without trusting a name twice, as sshd's StrictModes does.

    Every directory on the way, and path itself, must be owned by root or the user this task runs as, and be
    writable by nobody else (a sticky, world-writable directory such as /tmp is refused too). The last private
    components (path itself by default) must be real directories; a link above them is followed only when
    root or that user owns it, and its target is walked the same way. With create, missing directories are made,
    0700. Returns True when path exists (False when, without create, it does not); raises UnsafePathError.
    """
    return _TrustedWalk(path, what).walk(create, private)


class _TrustedWalk:
    """One walk of check_trusted_directory: the path asked about, and how to word what is wrong with it."""

    def __init__(self, path, what):
        self.path = path
        self.what = what
        self.owners = trusted_owners()

    def refuse(self, here, problem, remedy, **details):
        where = '%s %s' % (self.what, here) if here == self.normalized else '%s, on the way to %s %s,' % (here, self.what, self.path)
        return UnsafePathError('%s %s: %s' % (where, problem, remedy), refused_path=self.path, **details)

    def walk(self, create, private):
        path = self.path
        if not isinstance(path, str) or not path.startswith('/'):
            raise UnsafePathError('%s %r is a relative path: give an absolute path (for example /var/cache/airgap-packages)'
                                  % (self.what, path), refused_path=path)
        names = [name for name in path.split('/') if name not in ('', '.')]
        if '..' in names:
            raise UnsafePathError("%s %s contains '..': give the path without it" % (self.what, path), refused_path=path)
        self.normalized = '/' + '/'.join(names)
        # (name, private?) still to walk, next last; a link's target goes in front, above the private components.
        pending = [(name, index >= len(names) - private) for index, name in enumerate(names)]
        pending.reverse()
        current, links = '/', 0
        fd = self.open_directory(None, '/', '/')
        try:
            self.check_directory(os.fstat(fd), '/')
            while pending:
                name, is_private = pending.pop()
                if name == '..':
                    # Only from a link's target; current holds no link, so its parent is what '..' names.
                    parent = self.open_directory(fd, '..', os.path.dirname(current))
                    os.close(fd)
                    fd, current = parent, os.path.dirname(current)
                    continue
                here = os.path.join(current, name)
                info = self.lstat(fd, name, here)
                if info is None:
                    if not create:
                        return False
                    self.make_private_directory(fd, name, here)
                    info = self.lstat(fd, name, here)
                if stat.S_ISLNK(info.st_mode):
                    target = self.follow(fd, name, here, info, is_private)
                    links += 1
                    if links > _MAX_LINKS:
                        raise UnsafePathError('%s %s goes through more than %d symbolic links (a loop?): give the real path'
                                              % (self.what, path, _MAX_LINKS), refused_path=path)
                    if target.startswith('/'):
                        os.close(fd)
                        fd, current = self.open_directory(None, '/', '/'), '/'
                    pending.extend(reversed([(part, False) for part in target.split('/') if part not in ('', '.')]))
                    continue
                if not stat.S_ISDIR(info.st_mode):
                    kind = _NOT_DIRECTORY.get(stat.S_IFMT(info.st_mode), 'not a directory')
                    raise self.refuse(here, 'is not a directory (it is %s)' % kind, 'remove it, or give another path')
                child = self.open_directory(fd, name, here)
                os.close(fd)
                fd, current = child, here
                self.check_directory(os.fstat(fd), current)
            return True
        finally:
            os.close(fd)

    def lstat(self, fd, name, here):
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise self.refuse(here, 'cannot be inspected (%s)' % exc.strerror, 'fix its permissions, or give another path')

    def follow(self, fd, name, here, info, is_private):
        target = os.readlink(name, dir_fd=fd)
        if is_private:
            raise self.refuse(here, 'is a symbolic link (to %s)' % target,
                              'nothing is staged through a link at or below the staging directory. Replace the link by '
                              'a real directory, or give the real directory itself', link=here)
        if info.st_uid not in self.owners:
            raise self.refuse(here, 'is a symbolic link (to %s) owned by uid %s' % (target, _owner_name(info.st_uid)),
                              'a link above the staging directory is followed only when root or the user this task runs '
                              'as owns it. Replace the link, or give a path that does not go through it', link=here)
        return target

    def open_directory(self, dir_fd, name, here):
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        try:
            return os.open(name, flags, dir_fd=dir_fd) if dir_fd is not None else os.open(name, flags)
        except (IOError, OSError) as exc:
            # A name that changed between the look and the open (ELOOP: a link now) is refused like any other.
            raise self.refuse(here, 'cannot be opened as a directory (%s)' % exc.strerror, 'check it, or give another path')

    def make_private_directory(self, fd, name, here):
        try:
            os.mkdir(name, 0o700, dir_fd=fd)
        except (IOError, OSError) as exc:
            if exc.errno != errno.EEXIST:
                raise self.refuse(here, 'cannot be created (%s)' % exc.strerror, 'create it, or give another path')

    def check_directory(self, info, here):
        if info.st_uid not in self.owners:
            raise self.refuse(
                here, 'is owned by uid %s, not by root or the user this task runs as (uid %s)'
                % (_owner_name(info.st_uid), _owner_name(os.geteuid())),
                'its owner could replace what is staged there. Give it to root (chown root %s), or give another path'
                % here, directory=here, owner_uid=info.st_uid)
        if info.st_mode & 0o022:
            mode = stat.S_IMODE(info.st_mode)
            details = dict(directory=here, directory_mode='%04o' % mode)
            if info.st_mode & stat.S_ISVTX:
                raise self.refuse(
                    here, 'is writable by others (mode %04o, sticky like /tmp)' % mode,
                    'anyone may create names in it, so a path below it can be taken or squatted before a run makes it. '
                    'Give a path outside it (for example under /var/cache)', **details)
            raise self.refuse(
                here, 'is writable by %s (mode %04o)' % ('others' if mode & 0o002 else 'its group', mode),
                'whoever can write it could replace what is staged there. Remove that write permission (chmod go-w %s), '
                'or give a path whose directories only root or the user this task runs as can write' % here, **details)


def open_files(paths):
    """The subset of paths that some process has open now (any process this user may inspect), by /proc.

    None where that cannot be told (no /proc): then treat every path as open.
    """
    wanted = {}
    for path in paths:
        try:
            info = os.lstat(path)
        except OSError:
            continue
        wanted[(info.st_dev, info.st_ino)] = path
    if not wanted:
        return set()
    if not os.path.isdir('/proc/self/fd'):
        return None
    found = set()
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        directory = '/proc/%s/fd' % pid
        try:
            descriptors = os.listdir(directory)
        except OSError:
            continue  # gone, or another user's: it cannot hold open what only this user may open
        for descriptor in descriptors:
            try:
                info = os.stat(os.path.join(directory, descriptor))
            except OSError:
                continue
            path = wanted.get((info.st_dev, info.st_ino))
            if path:
                found.add(path)
    return found


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def file_identity(status):
    """What an os.stat result says of a file that no user can set back: inode, size, mtime and ctime (any write,
    rename over it or chmod moves the ctime). Records of what a file was compare these."""
    return [status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns]


def is_own_file(status):
    """Whether an os.lstat result is a regular file of this user that nobody else can write: the only kind of file
    a record this user keeps for itself (a tool's stamp, a probe's answer) is taken from."""
    return stat.S_ISREG(status.st_mode) and status.st_uid == os.geteuid() and not status.st_mode & 0o022


def nearest_existing(path):
    """path, or its closest ancestor that exists: where a directory still to be made would be made."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and path != os.path.dirname(path):
        path = os.path.dirname(path)
    return path


def mount_point(path):
    """The directory where the filesystem holding path is mounted."""
    path = os.path.realpath(path)
    device = os.stat(path).st_dev
    while path != os.path.dirname(path) and os.stat(os.path.dirname(path)).st_dev == device:
        path = os.path.dirname(path)
    return path


# Filesystems of the kernel's own, where no environment or gem can be installed.
_PSEUDO_FILESYSTEMS = frozenset(['proc', 'sysfs', 'devpts', 'devtmpfs', 'cgroup', 'cgroup2', 'debugfs', 'tracefs',
                                 'securityfs', 'pstore', 'bpf', 'configfs', 'fusectl', 'efivarfs', 'mqueue', 'hugetlbfs'])


def check_directory_to_write(option, path):
    """Refuse, naming the option, a directory a module is to create or fill (a virtualenv, a GEM_HOME, a bindir, a
    cache root) that cannot be one: a relative path, a path through something that is not a directory, or a place
    on a read-only or pseudo filesystem. Nothing is created here."""
    if not os.path.isabs(path):
        raise AirgapError('%s %r is a relative path: give an absolute path' % (option, path))
    existing = nearest_existing(path)
    if not os.path.isdir(existing):
        raise AirgapError('%s %s cannot be a directory: %s exists and is not one. Remove it, or give another path'
                          % (option, path, existing))
    kind = _filesystem_type(existing)
    if kind in _PSEUDO_FILESYSTEMS:
        raise AirgapError('%s %s lies on the %s filesystem of the kernel, which cannot hold it: give a path on a disk'
                          % (option, path, kind))
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise AirgapError('%s %s lies on a read-only filesystem (at %s): give a path on a writable one'
                          % (option, path, mount_point(existing)))


def _filesystem_type(path):
    """The type of the filesystem holding path, as /proc/self/mounts names it ('' where that cannot be read)."""
    where = mount_point(path)
    kind = ''
    try:
        with open('/proc/self/mounts') as handle:
            for line in handle:
                fields = line.split()
                # The last mount on a mount point is the one in effect; octal escapes stand for spaces.
                if len(fields) > 2 and fields[1].replace('\\040', ' ') == where:
                    kind = fields[2]
    except (IOError, OSError):
        pass
    return kind
