# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import hashlib
import io
import os
import tarfile
import time

import pytest

from ansible_collections.airgap.packages.plugins.module_utils.errors import VerificationError
from ansible_collections.airgap.packages.plugins.module_utils.manifest import (
    Artifact,
    Manifest,
    canonical_json,
)
from ansible_collections.airgap.packages.plugins.module_utils.staging import (
    extract_contained,
    is_staged,
    receive_archive,
    stale_digests,
)

PAYLOAD = b'wheel bytes'


def cache_members():
    artifact = Artifact('a-1.0-py3-none-any.whl', 'a', '1.0', len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    manifest = Manifest('python', {'key': 'k'}, [], [artifact])
    return manifest.digest, {'manifest.json': canonical_json(manifest.to_dict()), artifact.filename: PAYLOAD}


def archive_of(path, members, symlink=None):
    with tarfile.open(path, 'w:') as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type = tarfile.SYMTYPE
            info.linkname = symlink[1]
            tar.addfile(info)
    return path


def test_a_received_archive_lands_under_its_digest_verified(tmp_path):
    digest, members = cache_members()
    root = str(tmp_path / 'stage')
    path = receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    assert path == os.path.join(root, digest)
    assert is_staged(root, digest)
    assert sorted(os.listdir(root)) == [digest]


def test_an_archive_with_an_altered_artifact_is_refused_and_nothing_stays(tmp_path):
    digest, members = cache_members()
    members['a-1.0-py3-none-any.whl'] = b'wheel bytez'
    root = str(tmp_path / 'stage')
    with pytest.raises(VerificationError, match='sha256'):
        receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    assert os.listdir(root) == []


def test_an_archive_for_another_digest_is_refused(tmp_path):
    _digest, members = cache_members()
    with pytest.raises(VerificationError, match='the controller sent'):
        receive_archive(str(tmp_path / 'stage'), 'f' * 64, archive_of(str(tmp_path / 'c.tar'), members))


def test_a_truncated_archive_is_refused(tmp_path):
    digest, members = cache_members()
    path = archive_of(str(tmp_path / 'c.tar'), members)
    with open(path, 'r+b') as handle:
        handle.truncate(700)
    with pytest.raises(VerificationError):
        receive_archive(str(tmp_path / 'stage'), digest, path)
    assert not is_staged(str(tmp_path / 'stage'), digest)


@pytest.mark.parametrize('name', ['../escape.whl', '/etc/passwd', 'sub/../../escape'])
def test_paths_outside_the_cache_are_refused(tmp_path, name):
    path = archive_of(str(tmp_path / 'evil.tar'), {name: b'x'})
    with pytest.raises(VerificationError, match='outside the cache'):
        extract_contained(path, str(tmp_path / 'out'))


def test_links_are_refused(tmp_path):
    path = archive_of(str(tmp_path / 'evil.tar'), {}, symlink=('manifest.json', '/etc/shadow'))
    with pytest.raises(VerificationError, match='not a regular file'):
        extract_contained(path, str(tmp_path / 'out'))


def test_only_the_newest_digests_are_kept_and_old_leftovers_go(tmp_path):
    root = tmp_path
    names = ['%064x' % index for index in range(4)]
    for age, name in enumerate(reversed(names)):
        (root / name).mkdir()
        os.utime(str(root / name), (time.time() - age * 10, time.time() - age * 10))
    old, fresh = root / '.incoming-old', root / '.incoming-fresh'
    old.mkdir()
    fresh.mkdir()
    os.utime(str(old), (time.time() - 7200, time.time() - 7200))
    assert stale_digests(str(root), 2, current=names[3]) == sorted(names[:2]) + ['.incoming-old']
