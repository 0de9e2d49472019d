# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ship_cache: ask the target for the digest, send one archive only when it lacks it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tarfile
import tempfile

from ansible.plugins.action import ActionBase

from ansible_collections.airgap.packages.plugins.module_utils.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils.manifest import MANIFEST_NAME, load_manifest
from ansible_collections.airgap.packages.plugins.module_utils.signing import SIGNATURE_SUFFIX
from ansible_collections.airgap.packages.plugins.module_utils.staging import DEFAULT_STAGE

MODULE = 'airgap.packages.ship_cache'
EXTRA_FILES = (MANIFEST_NAME, MANIFEST_NAME + SIGNATURE_SUFFIX, 'pylock.toml')


def write_archive(src, manifest, archive):
    """An uncompressed tar (artifacts are compressed already) of the manifest and the files it lists."""
    names = [artifact.filename for artifact in manifest.artifacts]
    names += [name for name in EXTRA_FILES if os.path.isfile(os.path.join(src, name))]
    with tarfile.open(archive, 'w:', format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            tar.add(os.path.join(src, name), arcname=name, recursive=False)
    return os.path.getsize(archive)


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
        settled = args.get('settled') or []
        if not isinstance(settled, list):
            result.update(failed=True, msg='settled must be a list of digests (the settled list host_state returns), got %r'
                          % type(settled).__name__)
            return result
        if manifest.digest in settled:
            # host_state vouched for this digest in this play: verified, matching, nothing to prune.
            dest = args.get('dest') or DEFAULT_STAGE
            result.update(changed=False, path=self._connection._shell.join_path(dest, manifest.digest), digest=manifest.digest,
                          present=True, shipped=False, transferred_bytes=0, pruned=[], settled=True)
            return result
        module_args = dict(args, src=src, digest=manifest.digest)
        status = self._execute_module(MODULE, module_args=module_args, task_vars=task_vars)
        if status.get('failed') or status.get('present'):
            result.update(status, shipped=False, transferred_bytes=0)
            return result
        staging = tempfile.mkdtemp(prefix='airgap-ship-')
        try:
            local_archive = os.path.join(staging, 'cache.tar')
            size = write_archive(src, manifest, local_archive)
            if self._task.check_mode:
                result.update(status, changed=True, shipped=True, transferred_bytes=0, archive_bytes=size)
                return result
            remote_tmp = self._connection._shell.tmpdir or self._make_tmp_path()
            remote_archive = self._connection._shell.join_path(remote_tmp, 'cache.tar')
            self._transfer_file(local_archive, remote_archive)
            self._fixup_perms2((remote_tmp, remote_archive))
            received = self._execute_module(MODULE, module_args=dict(module_args, archive=remote_archive),
                                            task_vars=task_vars)
            result.update(received, shipped=not received.get('failed'), transferred_bytes=size, archive_bytes=size)
            return result
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self._remove_tmp_path(self._connection._shell.tmpdir)
