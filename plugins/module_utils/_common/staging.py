# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staged caches on a target: one directory per manifest digest, received as one archive.

An archive is unpacked into a private directory, checked against the digest the controller
expects and every artifact's size and sha256, and only then renamed into place; a directory
named by a digest is therefore always complete. The staging directory is trusted only when
nobody but root and the user the task runs as could change it or the way to it, and nothing
is staged through a link at or below it. Runs on targets: standard library only.
"""

import errno
import json
import os
import shutil
import stat
import tarfile
import time

from .errors import AirgapError, LockError, VerificationError
from .fsutil import (
    UnsafePathError, atomic_write_bytes, check_trusted_directory, environment_lock, file_identity, lock_is_held, mount_point, nearest_existing,
    open_files, private_tempdir,
)
from .manifest import MANIFEST_NAME, SHA256_HEX, load_manifest, remember_sha256, verify_artifacts

# ship_cache's staging root on the target unless told otherwise (module and action plugin alike).
DEFAULT_STAGE = '/var/cache/airgap-packages'
_INCOMING_PREFIX = '.incoming-'
# In a staged copy, beside its artifacts: what each artifact file was (inode, size, mtime and ctime) when the copy
# last verified in full. Any write, rename over a file or chmod moves its ctime, which no user can set back, so a
# file that matches its entry holds the bytes that verified, and is_staged need not read it again. On a
# filesystem that keeps whole seconds only, a write in the second the record was made would not move the ctime:
# a ctime without a fraction of a second is never taken as proof. The install modules still verify every byte.
VERIFIED_NAME = '.verified.json'
# The archive ship_cache's action plugin sends, in the remote temp dir of its run (ansible-tmp-*).
ARCHIVE_PREFIX = 'airgap-ship-'
ARCHIVE_SUFFIX = '.tar'
_REMOTE_TMP_PREFIX = 'ansible-tmp-'
# An archive nobody has open and nobody wrote to for this long was left by a run that died between its upload
# and its receipt (a few round trips when alive); an upload in progress always has the file open.
ABANDONED_AFTER = 600


class StagingError(AirgapError):
    """Something other than a staged cache sits where one belongs, or the staging directory cannot take a cache."""


class SpaceNeed:
    """What one write needs on the filesystem holding path: the sizes of the files it makes there."""

    def __init__(self, label, path, sizes, remedy):
        self.label = label
        self.path = path
        self.sizes = list(sizes)
        self.remedy = remedy


class Incoming:
    """What ship_cache's controller side sends: the archive's size, the size of every file in it, and the remote
    temp dir it lands in."""

    def __init__(self, archive_bytes, file_sizes, tmpdir):
        self.archive_bytes = archive_bytes
        self.file_sizes = list(file_sizes or [])
        self.tmpdir = tmpdir


class Converged:
    """What converge_stage did: whether the cache is present, whether it was received now, the names pruned
    under the staging directory, and the abandoned archives removed from remote temp dirs."""

    def __init__(self, present, received, pruned, removed_archives):
        self.present = present
        self.received = received
        self.pruned = pruned
        self.removed_archives = removed_archives


def is_staged_name(name):
    """Whether name is a manifest digest, the name of a staged cache directory."""
    return bool(SHA256_HEX.match(name))


def staged_path(root, digest):
    if not SHA256_HEX.match(digest or ''):
        raise AirgapError('%r is not a manifest digest (64 lowercase hex digits)' % digest)
    return os.path.join(root, digest)


def check_settled(settled):
    """The settled list host_state returns, as a set of digests; refused, naming what is wrong, when it is not one."""
    if not isinstance(settled, (list, tuple)):
        raise AirgapError('settled must be a list of digests (the settled list host_state returns), got %r'
                          % type(settled).__name__)
    wrong = [digest for digest in settled if not isinstance(digest, str) or not is_staged_name(digest)]
    if wrong:
        raise AirgapError('settled holds %s, which is not a manifest digest (64 lowercase hex digits): pass the settled '
                          'list host_state returns' % ', '.join(repr(digest) for digest in wrong))
    return frozenset(settled)


def check_keep(keep, option='keep'):
    """keep counts the cache being staged: below 1 makes no sense."""
    if not isinstance(keep, int) or keep < 1:
        raise AirgapError('%s is %r: keep at least the cache being staged (1 or more)' % (option, keep), keep=keep)
    return keep


def check_stage(root, create=False):
    """Refuse a staging directory that others could change or that is reached through a link at or below it
    (see fsutil.check_trusted_directory); with create, make what is missing 0700. Returns whether it exists."""
    return check_trusted_directory(root, create=create)


def stage_is_trusted(root):
    """For read-only questions: whether root exists and passes check_stage."""
    try:
        return check_stage(root)
    except UnsafePathError:
        return False


def staged_names(root):
    """Names of the real digest directories under root, sorted (a link under a digest's name is not one)."""
    return sorted(name for name, info in _entries(root) if is_staged_name(name) and stat.S_ISDIR(info.st_mode))


def _entries(root):
    """(name, lstat) of what root holds; nothing when root does not exist."""
    try:
        names = os.listdir(root)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise StagingError('cannot list the staging directory %s (%s)' % (root, exc.strerror))
    entries = []
    for name in names:
        try:
            entries.append((name, os.lstat(os.path.join(root, name))))
        except OSError:
            pass  # gone meanwhile
    return entries


def _existing_copy(path):
    """True when path is a real directory, False when nothing is there; refuses anything else at a digest's name."""
    try:
        info = os.lstat(path)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise StagingError('cannot inspect %s (%s)' % (path, exc.strerror))
    if stat.S_ISDIR(info.st_mode):
        return True
    if stat.S_ISLNK(info.st_mode):
        raise StagingError('%s is a symbolic link (to %s) where the staged cache of that digest belongs: a cache is never '
                           'read or staged through a link. Remove the link (rm %s; its target is not touched) and run again'
                           % (path, os.readlink(path), path), planted=path)
    raise StagingError('%s is not a directory where the staged cache of that digest belongs: remove it and run again'
                       % path, planted=path)


def _holds_only_files_and_directories(path):
    for directory, subdirectories, files in os.walk(path):
        for name in subdirectories + files:
            mode = os.lstat(os.path.join(directory, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return False
    return True


def is_staged(root, digest, trust=None, record=False):
    """True when root/digest holds a cache whose manifest has that digest (signed by a trusted key, with trust)
    and whose artifacts verify; a copy holding links or other special files counts as altered. Artifacts that
    match the copy's verified record are not read again; with record, a copy verified in full gets its record."""
    path = staged_path(root, digest)
    if not _existing_copy(path) or not os.path.isfile(os.path.join(path, MANIFEST_NAME)):
        return False
    if not _holds_only_files_and_directories(path):
        return False
    try:
        manifest = load_manifest(path, trust)
        if manifest.digest != digest:
            return False
        if _matches_verified_record(path, manifest):
            return True
        verify_artifacts(path, manifest.artifacts)
    except AirgapError:
        return False
    if record:
        record_verified(path, manifest)
    return True


def record_verified(path, manifest):
    """Write the verified record of the copy at path, whose artifacts have just verified in full."""
    try:
        files = dict((artifact.filename, file_identity(os.lstat(os.path.join(path, artifact.filename))))
                     for artifact in manifest.artifacts)
        atomic_write_bytes(os.path.join(path, VERIFIED_NAME),
                           json.dumps({'digest': manifest.digest, 'files': files}, sort_keys=True).encode('utf-8'))
    except (IOError, OSError, AirgapError):
        pass  # A full disk, say: without a record the copy is read in full next time, slower and never less safe.


def _matches_verified_record(path, manifest):
    """Whether every artifact of the copy at path is still the file its verified record names; if so, each is
    remembered as holding its manifest sha256 for the rest of this run."""
    try:
        with open(os.path.join(path, VERIFIED_NAME), 'rb') as handle:
            record = json.loads(handle.read().decode('utf-8'))
    except (IOError, OSError, ValueError):
        return False
    files = record.get('files') if isinstance(record, dict) and record.get('digest') == manifest.digest else None
    if not isinstance(files, dict):
        return False
    known = []
    for artifact in manifest.artifacts:
        artifact_path = os.path.join(path, artifact.filename)
        try:
            status = os.lstat(artifact_path)
        except OSError:
            return False
        if (not stat.S_ISREG(status.st_mode) or status.st_size != artifact.size or status.st_ctime_ns % 10 ** 9 == 0
                or files.get(artifact.filename) != file_identity(status)):
            return False
        known.append((artifact_path, status, artifact.sha256))
    for artifact_path, status, sha256 in known:
        remember_sha256(artifact_path, status, sha256)
    return True


def stage_directory(root, digest, fill, mismatch, trust=None, needed=None):
    """Let fill(directory) put a cache into a private directory under root, verify it, rename it to root/digest.

    All or nothing: the directory named by the digest appears only once its manifest has that
    digest and every artifact's size and sha256 match; whatever fill leaves on failure goes.
    mismatch(actual_digest) words the error for a manifest that is not the expected one; with trust, the
    manifest must also be signed by a trusted key. needed: the sizes of the files fill makes, checked
    against the free space of root's filesystem before anything is written.
    """
    final = staged_path(root, digest)
    check_stage(root, create=True)
    # One lock per staging root (it sits beside the root): staging and pruning never overlap.
    with environment_lock(root):
        _existing_copy(final)
        if needed is not None:
            check_free_space([stage_need(root, needed)])
        incoming = private_tempdir(root, _INCOMING_PREFIX)
        try:
            fill(incoming)
            manifest = load_manifest(incoming, trust)
            if manifest.digest != digest:
                raise VerificationError(mismatch(manifest.digest))
            verify_artifacts(incoming, manifest.artifacts)
            os.chmod(incoming, 0o755)
            if _existing_copy(final):
                shutil.rmtree(final)
            os.rename(incoming, final)
            record_verified(final, manifest)
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOSPC:
                raise StagingError('the filesystem of the staging directory %s filled up while staging %s: nothing was '
                                   'staged; free space there and run again' % (root, digest))
            raise StagingError('cannot stage %s under %s (%s): nothing was staged' % (digest, root, exc.strerror or exc))
        finally:
            if os.path.isdir(incoming):
                shutil.rmtree(incoming)
    return final


def receive_archive(root, digest, archive, trust=None, file_sizes=None):
    """Unpack archive (a path, or a file open for reading) into root/digest after checking it: all or nothing.

    file_sizes: the sizes of the files it holds, for the free space check (default: the archive's size).
    """
    if file_sizes is None:
        file_sizes = [os.fstat(archive.fileno()).st_size if hasattr(archive, 'fileno') else os.path.getsize(archive)]
    name = getattr(archive, 'name', archive)

    def fill(incoming):
        try:
            extract_contained(archive, incoming)
        except (tarfile.TarError, EOFError) as exc:
            raise VerificationError('the cache archive %s is incomplete or corrupt (%s); run again to ship it anew'
                                    % (name, exc))

    def mismatch(actual):
        return ('the received cache has manifest digest %s, the controller sent %s: the transfer was altered or '
                'the cache changed on the controller while shipping; run again' % (actual, digest))
    return stage_directory(root, digest, fill, mismatch, trust, file_sizes)


def take_archive(path):
    """Open the archive the controller sent and remove its name at once: from here on, whatever becomes of this
    run, it leaves no archive behind (the open file stays readable until closed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (IOError, OSError) as exc:
        raise StagingError('cannot open the cache archive %s (%s) that the controller sent: run again' % (path, exc.strerror))
    handle = os.fdopen(fd, 'rb')
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise StagingError('the cache archive %s is not a regular file: run again' % path)
    try:
        os.unlink(path)
    except OSError:
        pass  # the action plugin removes its temp dir as well
    return handle


def extract_contained(archive, dest):
    """Extract regular files and directories only, refusing anything that would land outside dest.

    archive: a path, or a file open for reading.
    """
    dest = os.path.realpath(dest)
    name = getattr(archive, 'name', archive)
    opened = tarfile.open(fileobj=archive, mode='r:') if hasattr(archive, 'read') else tarfile.open(archive, 'r:')
    with opened as tar:
        members = tar.getmembers()
        for member in members:
            target = os.path.realpath(os.path.join(dest, member.name))
            if os.path.isabs(member.name) or '..' in member.name.split('/') or not target.startswith(dest + os.sep):
                raise VerificationError('the cache archive %s holds %r, a path outside the cache; refusing it'
                                        % (name, member.name))
            if not (member.isfile() or member.isdir()):
                raise VerificationError('the cache archive %s holds %r, which is not a regular file; refusing it'
                                        % (name, member.name))
        for member in members:
            target = os.path.join(dest, member.name)
            if member.isdir():
                if not os.path.isdir(target):
                    os.makedirs(target, 0o755)
                continue
            parent = os.path.dirname(target)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            source = tar.extractfile(member)
            with open(target, 'wb') as handle:
                shutil.copyfileobj(source, handle)
            os.chmod(target, 0o644)


def stale_digests(root, keep, current, locked=False):
    """What pruning root removes: staged digests beyond the newest keep (current always kept), anything else under
    a digest's name (a planted link), and the leftovers of runs that are gone (see _leftovers).

    locked: the caller holds root's lock.
    """
    entries = _entries(root)
    staged = [(name, info) for name, info in entries
              if is_staged_name(name) and name != current and stat.S_ISDIR(info.st_mode)]
    staged.sort(key=lambda entry: entry[1].st_mtime, reverse=True)
    planted = [name for name, info in entries if is_staged_name(name) and name != current and not stat.S_ISDIR(info.st_mode)]
    return sorted([name for name, _info in staged[max(keep - 1, 0):]] + planted) + _leftovers(root, entries, locked)


def _leftovers(root, entries, locked):
    """The unpacking directories of runs that are gone. A run holds root's lock for as long as its own exists,
    so when the lock is free (or the caller holds it), every one there is a leftover: the lock tells, not an age."""
    found = sorted(name for name, _info in entries if name.startswith(_INCOMING_PREFIX))
    if found and not locked and lock_is_held(root):
        return []
    return found


def clear_leftovers(root):
    """Remove the leftovers of runs that are gone, unless a run holds root's lock now; returns their names."""
    try:
        with environment_lock(root, timeout=0):
            return _remove_entries(root, _leftovers(root, _entries(root), locked=True))
    except LockError:
        return []  # a run in progress: its directory is its own; the next run comes by again


def prune_stage(root, keep, current, check_mode=False):
    """Remove what stale_digests names (in check mode, only name it); returns the names removed.

    A link is removed itself, never what it points to.
    """
    pruned = stale_digests(root, keep, current)
    if not pruned or check_mode:
        return pruned
    with environment_lock(root):
        return _remove_entries(root, stale_digests(root, keep, current, locked=True))


def _remove_entries(root, names):
    removed = []
    for name in names:
        path = os.path.join(root, name)
        try:
            # rmtree does not follow links below path; a link (or anything not a directory) is unlinked itself.
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise StagingError('cannot remove %s (%s): remove it by hand and run again' % (path, exc.strerror or exc),
                               entry=path)
        removed.append(name)
    return removed


def sweep_abandoned_archives(tmpdir, now=None):
    """Remove the archives that ship runs which died before their target received them left in the remote temp
    dirs beside tmpdir: those no process has open and nobody wrote to for ABANDONED_AFTER seconds. Returns their paths.
    """
    base = os.path.dirname(os.path.normpath(tmpdir))
    now = time.time() if now is None else now
    candidates = []
    try:
        for run_dir, run_info in _entries(base):
            if not run_dir.startswith(_REMOTE_TMP_PREFIX) or not stat.S_ISDIR(run_info.st_mode):
                continue
            for name, info in _entries(os.path.join(base, run_dir)):
                if (name.startswith(ARCHIVE_PREFIX) and name.endswith(ARCHIVE_SUFFIX) and stat.S_ISREG(info.st_mode)
                        and now - info.st_mtime > ABANDONED_AFTER):
                    candidates.append(os.path.join(base, run_dir, name))
    except StagingError:
        return []  # a temp dir this user cannot list holds nothing of this user's to sweep; never fail a ship for it
    if not candidates:
        return []
    held = open_files(candidates)
    if held is None:
        return []  # without /proc nothing tells a stalled upload from a dead one: leave them
    removed = []
    for path in candidates:
        if path in held:
            continue
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


def stage_need(root, sizes):
    return SpaceNeed('the staging directory %s' % root, root, sizes, 'give a dest on a larger filesystem or lower keep')


def check_free_space(needs):
    """Refuse, before anything is written, when a filesystem lacks room for what the needs on it add up to.

    Each file counts whole blocks of its filesystem, each need one more for its directory; the error names every
    filesystem that is short, what it must hold, the bytes required and the bytes available.
    """
    filesystems = []
    for need in needs:
        existing = nearest_existing(need.path)
        device = os.stat(existing).st_dev
        for filesystem in filesystems:
            if filesystem['device'] == device:
                break
        else:
            stats = os.statvfs(existing)
            filesystem = {'device': device, 'block': stats.f_frsize or stats.f_bsize, 'mount_point': mount_point(existing),
                          'available_bytes': stats.f_bavail * stats.f_frsize, 'required_bytes': 0, 'needs': []}
            filesystems.append(filesystem)
        block = filesystem['block']
        filesystem['required_bytes'] += sum(-(-size // block) * block for size in need.sizes) + block
        filesystem['needs'].append(need)
    short = [filesystem for filesystem in filesystems if filesystem['required_bytes'] > filesystem['available_bytes']]
    if not short:
        return
    problems, remedies = [], []
    for filesystem in short:
        problems.append('the filesystem mounted at %s (holding %s) requires %d bytes and has %d available'
                        % (filesystem['mount_point'], ' and '.join(need.label for need in filesystem['needs']),
                           filesystem['required_bytes'], filesystem['available_bytes']))
        remedies.extend(need.remedy for need in filesystem['needs'] if need.remedy not in remedies)
    raise StagingError(
        'not enough free space: %s. Nothing was written; free space there, or %s, then run again'
        % ('; '.join(problems), ', or '.join(remedies)),
        filesystems=[{'mount_point': filesystem['mount_point'], 'holds': [need.label for need in filesystem['needs']],
                      'required_bytes': filesystem['required_bytes'], 'available_bytes': filesystem['available_bytes']}
                     for filesystem in filesystems])


def converge_stage(root, digest, archive=None, keep=2, check_mode=False, trust=None, incoming=None):
    """Make root/digest hold the verified cache (from archive when it does not yet), then prune; returns Converged.

    The archive is taken (its name removed) before anything else, so no outcome leaves it behind. Without an
    archive but with incoming (the controller is about to send one), the free space of the staging directory's
    and the remote temp dir's filesystems is checked first. Older caches go only once this one is in place, so a
    failed ship leaves the host what it had.
    """
    check_keep(keep)
    handle = take_archive(archive) if archive else None
    try:
        swept = sweep_abandoned_archives(incoming.tmpdir) if incoming is not None and not check_mode else []
        exists = check_stage(root, create=not check_mode)
        present = exists and is_staged(root, digest, trust, record=not check_mode)
        received, pruned = False, []
        if not present and not check_mode:
            pruned = clear_leftovers(root)
            if handle is not None:
                receive_archive(root, digest, handle, trust, incoming.file_sizes if incoming and incoming.file_sizes else None)
                present = received = True
            elif incoming is not None:
                check_free_space([
                    stage_need(root, incoming.file_sizes),
                    SpaceNeed('the remote temp dir %s' % incoming.tmpdir, incoming.tmpdir, [incoming.archive_bytes],
                              'point remote_tmp (ansible_remote_tmp) at a larger filesystem'),
                ])
        if present:
            pruned += prune_stage(root, keep, digest, check_mode)
        return Converged(present, received, pruned, swept)
    finally:
        if handle is not None:
            handle.close()
