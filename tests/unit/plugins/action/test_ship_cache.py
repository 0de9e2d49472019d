# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ship_cache's controller side: what it tells the target about the archive before sending it."""

import hashlib
import os
import shlex
import tarfile

import pytest

from ansible_collections.airgap.packages.plugins.action.ship_cache import (
    archive_names, archive_size, check_dest, shared_archive, plain_transfer_options, write_archive)
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import Artifact, Manifest, load_manifest, write_manifest


def make_cache(src, sizes):
    src.mkdir()
    artifacts = []
    for index, size in enumerate(sizes):
        # Long names take pax headers of their own.
        filename = 'pkg%d-%s-1.0-py3-none-any.whl' % (index, 'x' * (index * 7 % 180))
        payload = os.urandom(size)
        (src / filename).write_bytes(payload)
        artifacts.append(Artifact(filename, 'pkg%d' % index, '1.0', size, hashlib.sha256(payload).hexdigest()))
    write_manifest(str(src), Manifest('python', {'key': 'k'}, [], artifacts))
    return artifacts


@pytest.mark.parametrize('sizes', [[0], [1, 511, 512, 513], [200000, 10240 * 3], [5] * 40])
def test_the_archive_size_told_before_sending_is_the_size_of_the_archive_sent(tmp_path, sizes):
    src = tmp_path / 'cache'
    artifacts = make_cache(src, sizes)
    manifest = load_manifest(str(src))
    told = archive_size(str(src), archive_names(str(src), manifest))
    sent = tmp_path / 'sent.tar'
    assert write_archive(str(src), manifest, str(sent)) == told
    # The file on disk, not only write_archive's own answer, has that size and holds the manifest and every artifact.
    assert sent.stat().st_size == told and told % tarfile.RECORDSIZE == 0
    with tarfile.open(str(sent)) as archive:
        assert sorted(archive.getnames()) == sorted(['manifest.json'] + [a.filename for a in artifacts])


@pytest.mark.parametrize('dest', ['relative/stage', 'stage', ''])
def test_a_relative_dest_is_refused_on_the_controller(dest):
    with pytest.raises(AirgapError, match='is a relative path: give an absolute path'):
        check_dest(dest)
    assert check_dest('/var/cache/airgap-packages') and check_dest('~/stage')


def test_every_host_of_a_run_is_sent_one_archive_written_once(tmp_path):
    src = tmp_path / 'cache'
    artifacts = make_cache(src, [3000, 70000])
    manifest = load_manifest(str(src))
    run_tmp = tmp_path / 'local-tmp'
    run_tmp.mkdir()
    size = archive_size(str(src), archive_names(str(src), manifest))
    first = shared_archive(str(src), manifest, size, str(run_tmp))
    written = os.stat(first)
    second = shared_archive(str(src), manifest, size, str(run_tmp))
    assert second == first and os.stat(second).st_ino == written.st_ino
    assert os.path.getsize(first) == size
    with tarfile.open(first) as archive:
        assert sorted(archive.getnames()) == sorted(['manifest.json'] + [a.filename for a in artifacts])
    # An archive cut short (a run killed while writing it under its final name) is written again, and no partial
    # file stays beside it.
    with open(first, 'r+b') as handle:
        handle.truncate(size // 2)
    third = shared_archive(str(src), manifest, size, str(run_tmp))
    assert third == first and os.path.getsize(third) == size
    assert sorted(os.listdir(str(run_tmp))) == [os.path.basename(first)]


def test_another_cache_with_the_same_digest_gets_an_archive_of_its_own(tmp_path):
    first_src, second_src = tmp_path / 'one', tmp_path / 'two'
    make_cache(first_src, [100])
    second_src.mkdir()
    for name in os.listdir(str(first_src)):
        (second_src / name).write_bytes((first_src / name).read_bytes())
    # Same artifacts and manifest, but this copy also carries a signature: its archive must hold it.
    (second_src / 'manifest.json.sig').write_text('signature')
    archives = []
    for src in (first_src, second_src):
        manifest = load_manifest(str(src))
        archives.append(shared_archive(str(src), manifest, archive_size(str(src), archive_names(str(src), manifest)), str(tmp_path)))
    first, second = archives
    assert first != second
    with tarfile.open(second) as archive:
        assert 'manifest.json.sig' in archive.getnames()


ANSIBLE_DEFAULT_SSH_ARGS = '-C -o ControlMaster=auto -o ControlPersist=60s'
HOME_CP = os.path.expanduser('~/.ansible/cp')


def plain(ssh_args, control_path=None, control_path_dir='~/.ansible/cp', **others):
    arguments = dict(dict((name, None) for name in ('ssh_common_args', 'sftp_extra_args', 'scp_extra_args')), **others)
    arguments['ssh_args'] = ssh_args
    return dict((name, shlex.split(value)) for name, value in
                plain_transfer_options(arguments, control_path, control_path_dir).items())


@pytest.mark.parametrize('ssh_args, control_path, expected', [
    # Ansible's default: compression off, the master kept, on a control path of its own.
    (ANSIBLE_DEFAULT_SSH_ARGS, None, ['-o', 'Compression=no', '-o', 'ControlMaster=auto', '-o', 'ControlPersist=60s',
                                      '-o', 'ControlPath=%s/ap-%%C' % HOME_CP]),
    # A control path the user set gets a sibling, and theirs in ssh_args gives way to it.
    ('-C -o ControlMaster=auto -o ControlPersist=30m -o ControlPath=/tmp/cp-%r@%h:%p', '%(directory)s/%%h-%%r',
     ['-o', 'Compression=no', '-o', 'ControlMaster=auto', '-o', 'ControlPersist=30m', '-o', 'ControlPath=%s/%%h-%%r-plain' % HOME_CP]),
    # Without persistence each transfer is a connection of its own: no control path is needed.
    ('-C', None, ['-o', 'Compression=no']),
    ('-oCompression=yes -o ControlPersist=no', None, ['-o', 'Compression=no', '-o', 'ControlPersist=no']),
    # Everything else is kept as the user wrote it, quoting included.
    ('-C -o "ProxyCommand=ssh -W %h:%p jump" -4 -o ControlPersist=60s', None,
     ['-o', 'Compression=no', '-o', 'ProxyCommand=ssh -W %h:%p jump', '-4', '-o', 'ControlPersist=60s',
      '-o', 'ControlPath=%s/ap-%%C' % HOME_CP]),
])
def test_the_archive_goes_without_ssh_compression_and_keeps_the_other_ssh_settings(ssh_args, control_path, expected):
    assert plain(ssh_args, control_path) == {'ssh_args': expected}


@pytest.mark.parametrize('ssh_args', [None, '', '-o ControlMaster=auto -o ControlPersist=60s', '-o Compression=no -4'])
def test_a_connection_that_asks_for_no_compression_is_left_as_it_is(ssh_args):
    # Its master is not compressed: the archive can share it, and nothing changes.
    assert plain(ssh_args, ssh_common_args='-o ControlPersist=120s') == {}


def test_compression_asked_for_outside_ssh_args_is_dropped_there_too():
    # An inventory's ssh_common_args with ControlPersist and -C: a master made with -C would carry the archive
    # otherwise, and -C after Compression=no would turn it back on.
    common = '-o StrictHostKeyChecking=yes -C -o ControlPersist=120s -o ControlPath=/run/cp/%C'
    assert plain('-4', None, '/srv/cp', ssh_common_args=common, sftp_extra_args='-l 8000') == {
        'ssh_args': ['-o', 'Compression=no', '-4', '-o', 'ControlPath=/srv/cp/ap-%C'],
        'ssh_common_args': ['-o', 'StrictHostKeyChecking=yes', '-o', 'ControlPersist=120s', '-o', 'ControlPath=/run/cp/%C']}
