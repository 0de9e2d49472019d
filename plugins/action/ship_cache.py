# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ship_cache: ask the target for the digest, send one archive only when it lacks it.

The archive of a cache is written once per run and digest, in Ansible's private local temp directory (removed
when the run ends), and every host of the run is sent that one file. Over the ssh connection it goes without ssh
compression, on a ControlPersist master of its own: see plain_transfer_options.
"""

import hashlib
import io
import os
import shlex
import tarfile

from ansible import constants as C
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


def shared_archive(src, manifest, size, directory):
    """The archive of the cache at src in directory, whose size archive_size told, written by the first host of the
    run that needs it and then sent to every other host from the same file. Written under a name of its own, then
    renamed into place, so a host never sends a half-written archive; two hosts that write it at once write the
    same bytes."""
    name = hashlib.sha256(('%s\0%s' % (os.path.realpath(src), manifest.digest)).encode()).hexdigest()[:24]
    archive = os.path.join(directory, 'airgap-ship-%s.tar' % name)
    if not (os.path.isfile(archive) and os.path.getsize(archive) == size):
        partial = '%s.%d.part' % (archive, os.getpid())
        try:
            write_archive(src, manifest, partial)
            os.replace(partial, archive)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return archive


SSH_ARGUMENT_OPTIONS = ('ssh_args', 'ssh_common_args', 'sftp_extra_args', 'scp_extra_args')


def plain_transfer_options(arguments, control_path=None, control_path_dir='~/.ansible/cp'):
    """The ssh connection options to send an archive with, given the connection's SSH_ARGUMENT_OPTIONS (name:
    value), its control_path and control_path_dir: {} when none of them asks for ssh compression.

    The artifacts are compressed already, so ssh compression (the -C of Ansible's default ssh_args) only costs
    CPU at both ends: about 1.9 s of the controller's per 75 MB copy, against 0.3 s without. The options lose
    -C and Compression, and ssh_args starts with Compression=no (ssh takes the first value it is given, and
    ssh_args come first). A session multiplexed over a ControlPersist master keeps the master's compression, so
    with ControlPersist the archive goes over a master of its own (one more ssh login per host and run, kept for
    the next archive), at a control path beside the usual one.
    """
    words = dict((name, list(_ssh_tokens(value))) for name, value in arguments.items())
    if not any(token == '-C' or _turns_on(option, 'compression') for tokens in words.values() for token, option in tokens):
        return {}
    plain = {}
    for name, tokens in words.items():
        # The control path in ssh_args gives way to the archive's own; one elsewhere comes after it anyway.
        dropped = ('compression', 'controlpath') if name == 'ssh_args' else ('compression',)
        kept = ['-o', 'Compression=no'] if name == 'ssh_args' else []
        for token, option in tokens:
            if option is None and token != '-C':
                kept.append(token)
            elif option is not None and _option_name(option) not in dropped:
                kept += ['-o', option]
        if kept != [word for token, option in tokens for word in ([token] if option is None else ['-o', option])]:
            plain[name] = ' '.join(shlex.quote(word) for word in kept)
    if any(_turns_on(option, 'controlpersist') for tokens in words.values() for _token, option in tokens):
        # As Ansible fills in its control path: %(directory)s is control_path_dir, %% a literal % for ssh (%C: a
        # hash of the destination).
        template = control_path + '-plain' if control_path else '%(directory)s/ap-%%C'
        plain['ssh_args'] += ' -o %s' % shlex.quote('ControlPath=%s' % (template % {'directory': os.path.expanduser(control_path_dir)}))
    return plain


def _ssh_tokens(args):
    """(token, option) for each word of an ssh argument string: option is the value of a -o, else None."""
    tokens = shlex.split(args or '')
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == '-o' and index + 1 < len(tokens):
            index += 1
            yield token, tokens[index]
        else:
            yield token, token[2:] if token.startswith('-o') and len(token) > 2 else None
        index += 1


def _option_name(option):
    return option.split('=', 1)[0].strip().lower()


def _turns_on(option, name):
    """Whether option (the value of a -o, or None) sets name to anything but no."""
    return option is not None and _option_name(option) == name and option.split('=', 1)[-1].strip().lower() not in ('no', 'false')


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
        size = module_args['archive_bytes']
        local_archive = shared_archive(src, manifest, size, C.DEFAULT_LOCAL_TMP)
        remote_tmp = self._connection._shell.tmpdir or self._make_tmp_path()
        remote_archive = self._connection._shell.join_path(
            remote_tmp, '%s%s%s' % (ARCHIVE_PREFIX, manifest.digest[:16], ARCHIVE_SUFFIX))
        self._transfer_archive(local_archive, remote_archive)
        self._fixup_perms2((remote_tmp, remote_archive))
        received = self._execute_module(MODULE, module_args=dict(module_args, archive=remote_archive),
                                        task_vars=task_vars)
        result.update(received, shipped=not received.get('failed'), transferred_bytes=size, archive_bytes=size,
                      pruned=status.get('pruned', []) + received.get('pruned', []),
                      removed_archives=status.get('removed_archives', []) + received.get('removed_archives', []))
        result['changed'] = bool(received.get('changed') or status.get('changed'))
        return result

    def _transfer_archive(self, local_archive, remote_archive):
        connection = self._connection
        if connection.transport != 'ssh':
            self._transfer_file(local_archive, remote_archive)
            return
        arguments = dict((name, connection.get_option(name)) for name in SSH_ARGUMENT_OPTIONS)
        control_path_dir = connection.get_option('control_path_dir')
        plain = plain_transfer_options(arguments, connection.get_option('control_path'), control_path_dir)
        if 'ControlPath=' in plain.get('ssh_args', ''):
            # ssh makes the socket, not its directory: Ansible makes that only for the control paths it adds.
            os.makedirs(os.path.expanduser(control_path_dir), mode=0o700, exist_ok=True)
        for name, value in plain.items():
            connection.set_option(name, value)
        try:
            self._transfer_file(local_archive, remote_archive)
        finally:
            for name in plain:
                connection.set_option(name, arguments[name])


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AirgapError('keep is %r: give a whole number, 1 or more' % (value,))
