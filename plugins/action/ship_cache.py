# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ship_cache: ask the target for the digest, send one archive only when it lacks it."""

import io
import os
import shutil
import tarfile
import tempfile

from ansible.plugins.action import ActionBase

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    COMPANION_NAMES, artifact_problem, describe_problem, load_manifest)
from ansible_collections.airgap.packages.plugins.module_utils._common.staging import ARCHIVE_PREFIX, ARCHIVE_SUFFIX, DEFAULT_STAGE, check_keep, check_settled

MODULE = 'airgap.packages.ship_cache'


def archive_names(src, manifest):
    """The files an archive of the cache holds: those the manifest lists, and the manifest with its companions."""
    names = [artifact.filename for artifact in manifest.artifacts]
    return names + [name for name in COMPANION_NAMES if os.path.isfile(os.path.join(src, name))]


def write_archive(src, manifest, archive):
    """An uncompressed tar (artifacts are compressed already) of the manifest and the files it lists."""
    with tarfile.open(archive, 'w:', format=tarfile.PAX_FORMAT) as tar:
        for name in archive_names(src, manifest):
            tar.add(os.path.join(src, name), arcname=name, recursive=False)
    return os.path.getsize(archive)


def archive_size(src, names):
    """The size write_archive's archive of names will have, from the headers alone, without writing it."""
    size = 0
    with tarfile.open(fileobj=io.BytesIO(), mode='w:', format=tarfile.PAX_FORMAT) as probe:
        for name in names:
            info = probe.gettarinfo(os.path.join(src, name), arcname=name)
            size += len(info.tobuf(probe.format, probe.encoding, probe.errors)) + -(-info.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    # Two zero blocks end the archive, which is then padded to whole records.
    size += 2 * tarfile.BLOCKSIZE
    return -(-size // tarfile.RECORDSIZE) * tarfile.RECORDSIZE


def check_dest(dest):
    """The form of dest, checked before the settled answer (the target checks the directories themselves)."""
    if not isinstance(dest, str) or not (dest.startswith('/') or dest.startswith('~')):
        raise AirgapError('dest %r is a relative path: give an absolute path (for example %s)' % (dest, DEFAULT_STAGE))
    return dest


class ActionModule(ActionBase):
    # The remote temp dir is made only when an archive is sent: a settled or present cache costs no more.
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('src', 'dest', 'keep', 'settled', 'trusted_keys'))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.get('src')
        if not src:
            result.update(failed=True, msg='src is required: the cache directory on the controller')
            return result
        src = os.path.expanduser(src)
        try:
            manifest = load_manifest(src)
        except AirgapError as exc:
            if self._task.check_mode and not os.path.exists(src):
                # In check mode the build step reports the cache it would make without making it.
                result.update(changed=True, shipped=True, transferred_bytes=0,
                              msg='%s is not built yet: it would be built and shipped' % src)
            else:
                result.update(failed=True, msg=exc.msg)
            return result
        try:
            check_dest(args.get('dest') or DEFAULT_STAGE)
            check_keep(_as_int(args.get('keep', 2)))
            settled = check_settled(args.get('settled') or [])
        except AirgapError as exc:
            result.update(failed=True, msg=exc.msg)
            return result
        if manifest.digest in settled:
            # host_state vouched for this digest in this play: verified, matching, nothing to prune.
            dest = args.get('dest') or DEFAULT_STAGE
            result.update(changed=False, path=self._connection._shell.join_path(dest, manifest.digest), digest=manifest.digest,
                          present=True, shipped=False, transferred_bytes=0, pruned=[], removed_archives=[], settled=True)
            return result
        # The target verifies every sha256 it receives; here, only what makes the archive (files and their sizes).
        problems = [p for p in (artifact_problem(src, artifact, check_sha256=False) for artifact in manifest.artifacts) if p]
        if problems:
            result.update(failed=True, problems=problems, msg='the cache %s is incomplete, nothing was shipped: %s. Build it '
                          'again with wheel_cache or gem_cache' % (src, '; '.join(describe_problem(p) for p in problems)))
            return result
        names = archive_names(src, manifest)
        # What the archive will need on the target, so that it checks its free space before anything is sent.
        module_args = dict(args, src=src, digest=manifest.digest, archive_bytes=archive_size(src, names),
                           file_sizes=[os.path.getsize(os.path.join(src, name)) for name in names])
        try:
            status = self._execute_module(MODULE, module_args=module_args, task_vars=task_vars)
            if status.get('failed') or status.get('present'):
                result.update(status, shipped=False, transferred_bytes=0)
                return result
            return self._send(result, status, src, manifest, module_args, task_vars)
        finally:
            # Whatever happens here, the archive does not stay on the target (the module removes it on opening it).
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _send(self, result, status, src, manifest, module_args, task_vars):
        if self._task.check_mode:
            # archive_size already told the size from the tar headers: nothing is written to say it.
            result.update(status, changed=True, shipped=True, transferred_bytes=0, archive_bytes=module_args['archive_bytes'])
            return result
        staging = tempfile.mkdtemp(prefix='airgap-ship-')
        try:
            local_archive = os.path.join(staging, 'cache.tar')
            size = write_archive(src, manifest, local_archive)
            remote_tmp = self._connection._shell.tmpdir or self._make_tmp_path()
            remote_archive = self._connection._shell.join_path(
                remote_tmp, '%s%s%s' % (ARCHIVE_PREFIX, manifest.digest[:16], ARCHIVE_SUFFIX))
            self._transfer_file(local_archive, remote_archive)
            self._fixup_perms2((remote_tmp, remote_archive))
            received = self._execute_module(MODULE, module_args=dict(module_args, archive=remote_archive),
                                            task_vars=task_vars)
            result.update(received, shipped=not received.get('failed'), transferred_bytes=size, archive_bytes=size,
                          pruned=status.get('pruned', []) + received.get('pruned', []),
                          removed_archives=status.get('removed_archives', []) + received.get('removed_archives', []))
            result['changed'] = bool(received.get('changed') or status.get('changed'))
            return result
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AirgapError('keep is %r: give a whole number, 1 or more' % (value,))
