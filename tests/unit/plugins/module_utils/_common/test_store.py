# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""publish_cache and fetch_cache logic against a file:// store: layout, idempotence, reuse, refusals."""

import hashlib
import json
import os

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError, ManifestError, VerificationError
from ansible_collections.airgap.packages.plugins.module_utils._target.fetch_cache import FetchRequest, fetch_cache
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import Artifact, Manifest, write_manifest
from ansible_collections.airgap.packages.plugins.module_utils._controller.publish_cache import PublishRequest, publish_caches
from ansible_collections.airgap.packages.plugins.module_utils._common.store import (
    NotInStore, Pointer, StoreError, artifact_object, open_store, pointer_object,
)

KEY = 'cp311-manylinux_2_36-x86_64-e1a41873'


def make_cache(directory, files, key=KEY, ecosystem='python'):
    """A cache directory holding files ({name: bytes}) and their manifest."""
    os.makedirs(directory, exist_ok=True)
    artifacts = []
    for filename, data in files.items():
        with open(os.path.join(directory, filename), 'wb') as handle:
            handle.write(data)
        name, version = filename.split('-')[:2]
        artifacts.append(Artifact(filename, name, version, len(data), hashlib.sha256(data).hexdigest()))
    manifest = Manifest(ecosystem, {'key': key}, [], artifacts)
    write_manifest(directory, manifest)
    return manifest


def assert_nothing_staged(stage):
    assert not stage.exists() or os.listdir(str(stage)) == []


def store_of(path):
    return open_store({'store': 'file://%s' % path})


def publish(store_dir, *src, **kwargs):
    request = PublishRequest(kwargs.get('channel', 'stable'), src, kwargs.get('manifests', ()), kwargs.get('check', False))
    return publish_caches(open_store({'store': 'file://%s' % store_dir}, writable=True), request)


def fetch(store_dir, stage, key=KEY, ecosystem='python', check=False, keep=2):
    return fetch_cache(store_of(store_dir), FetchRequest('stable', ecosystem, key, str(stage), keep, check))


@pytest.fixture
def two_caches(tmp_path):
    first = make_cache(str(tmp_path / 'c1'), {'a-1.0-py3-none-any.whl': b'A' * 100, 'b-1.0-py3-none-any.whl': b'B' * 50})
    second = make_cache(str(tmp_path / 'c2'), {'a-1.0-py3-none-any.whl': b'A' * 100, 'b-2.0-py3-none-any.whl': b'b' * 70})
    return first, second


def test_publish_stores_artifacts_by_sha256_manifest_by_digest_and_a_pointer(tmp_path, two_caches):
    first = two_caches[0]
    result = publish(tmp_path / 'store', str(tmp_path / 'c1'))
    assert result['changed'] and result['uploaded_bytes'] == 150
    for artifact in first.artifacts:
        with open(os.path.join(str(tmp_path / 'store'), artifact_object(artifact.sha256)), 'rb') as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == artifact.sha256
    with open(str(tmp_path / 'store' / 'manifests' / (first.digest + '.json')), 'rb') as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == first.digest
    with open(os.path.join(str(tmp_path / 'store'), pointer_object('stable', 'python', KEY))) as handle:
        pointer = json.load(handle)
    assert (pointer['manifest'], pointer['sequence'], pointer['previous']) == (first.digest, 1, '')
    assert result['pointers'] == [dict(ecosystem='python', key=KEY, digest=first.digest, previous=None, changed=True,
                                       sequence=1)]


def test_republishing_unchanged_caches_uploads_nothing_and_reports_no_change(tmp_path, two_caches):
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    again = publish(tmp_path / 'store', str(tmp_path / 'c1'))
    assert (again['changed'], again['uploaded_bytes'], again['uploaded'], again['reused_artifacts']) == (False, 0, [], 2)


def test_a_second_key_sharing_artifacts_uploads_only_those_that_differ(tmp_path, two_caches):
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    make_cache(str(tmp_path / 'other-key'), {'a-1.0-py3-none-any.whl': b'A' * 100, 'c-1.0-py3-none-any.whl': b'C' * 30},
               key='cp39-manylinux_2_31-x86_64-0badc0de')
    result = publish(tmp_path / 'store', str(tmp_path / 'other-key'))
    assert [entry['file'] for entry in result['uploaded']] == ['c-1.0-py3-none-any.whl']
    assert result['uploaded_bytes'] == 30


def test_check_mode_reports_the_upload_and_writes_nothing(tmp_path, two_caches):
    result = publish(tmp_path / 'store', str(tmp_path / 'c1'), check=True)
    assert result['changed'] and result['uploaded_bytes'] == 150
    assert not (tmp_path / 'store').exists()


def test_an_altered_cache_is_refused_before_anything_is_uploaded(tmp_path, two_caches):
    with open(str(tmp_path / 'c1' / 'a-1.0-py3-none-any.whl'), 'ab') as handle:
        handle.write(b'x')
    with pytest.raises(VerificationError, match='a-1.0-py3-none-any.whl'):
        publish(tmp_path / 'store', str(tmp_path / 'c1'))
    assert not (tmp_path / 'store' / 'artifacts').exists()


def test_an_interrupted_publish_leaves_the_pointer_where_it_was(tmp_path, two_caches, monkeypatch):
    first, second = two_caches
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    from ansible_collections.airgap.packages.plugins.module_utils._common import store

    def broken(self, name, path):
        raise StoreError('the connection broke off')
    monkeypatch.setattr(store.FileBackend, 'upload', broken)
    with pytest.raises(StoreError):
        publish(tmp_path / 'store', str(tmp_path / 'c2'))
    with open(os.path.join(str(tmp_path / 'store'), pointer_object('stable', 'python', KEY))) as handle:
        assert json.load(handle)['manifest'] == first.digest


def test_fetch_stages_the_cache_the_pointer_names_and_a_rerun_makes_one_request(tmp_path, two_caches):
    first = two_caches[0]
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    result = fetch(tmp_path / 'store', tmp_path / 'stage')
    assert result['changed'] and result['digest'] == first.digest and result['downloaded_bytes'] == 150
    # The artifacts, the manifest, and the record of the copy's verification (staging.VERIFIED_NAME).
    assert sorted(os.listdir(result['path'])) == ['.verified.json', 'a-1.0-py3-none-any.whl', 'b-1.0-py3-none-any.whl', 'manifest.json']
    again = fetch(tmp_path / 'store', tmp_path / 'stage')
    assert (again['changed'], again['downloaded_bytes'], again['requests']) == (False, 0, 1)


def test_a_digest_host_state_vouched_for_is_not_read_again_after_the_pointer(tmp_path, two_caches, monkeypatch, change_in_place):
    from ansible_collections.airgap.packages.plugins.module_utils._common import manifest
    first = two_caches[0]
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    fetch(tmp_path / 'store', tmp_path / 'stage')
    monkeypatch.setattr(manifest, '_HASHED', {})
    reads = []
    monkeypatch.setattr(manifest, 'sha256_file', lambda path: reads.append(path) or 'x')
    request = FetchRequest('stable', 'python', KEY, str(tmp_path / 'stage'), settled=[first.digest])
    result = fetch_cache(store_of(tmp_path / 'store'), request)
    assert (result['settled'], result['changed'], result['requests'], result['digest']) == (True, False, 1, first.digest)
    assert reads == []
    # Not vouched for, the staged copy is checked: a file changed in place (same size, its mtime put back) no longer
    # matches the copy's verified record, is read, found altered, and the cache is fetched again.
    monkeypatch.undo()
    change_in_place(os.path.join(result['path'], 'a-1.0-py3-none-any.whl'))
    request = FetchRequest('stable', 'python', KEY, str(tmp_path / 'stage'), check_mode=True)
    unvouched = fetch_cache(store_of(tmp_path / 'store'), request)
    assert unvouched['settled'] is False and unvouched['fetched']


def test_settled_must_hold_manifest_digests():
    with pytest.raises(AirgapError, match="settled holds 'nope', which is not a manifest digest"):
        FetchRequest('stable', 'python', KEY, '/var/cache/x', settled=['nope'])


def test_moving_the_channel_downloads_only_new_artifacts_and_moving_back_downloads_nothing(tmp_path, two_caches):
    first, second = two_caches
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    fetch(tmp_path / 'store', tmp_path / 'stage')
    moved = publish(tmp_path / 'store', str(tmp_path / 'c2'))
    assert moved['pointers'][0]['previous'] == first.digest and moved['pointers'][0]['sequence'] == 2
    forward = fetch(tmp_path / 'store', tmp_path / 'stage')
    assert forward['digest'] == second.digest
    assert (forward['downloaded'], forward['reused']) == (['b-2.0-py3-none-any.whl'], ['a-1.0-py3-none-any.whl'])
    back = publish(tmp_path / 'store', manifests=[first.digest])
    assert back['uploaded'] == [] and back['pointers'][0]['sequence'] == 3
    returned = fetch(tmp_path / 'store', tmp_path / 'stage')
    assert (returned['digest'], returned['downloaded_bytes'], returned['changed']) == (first.digest, 0, False)


def test_fetch_in_check_mode_reports_what_it_would_download_and_stages_nothing(tmp_path, two_caches):
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    result = fetch(tmp_path / 'store', tmp_path / 'stage', check=True)
    assert result['changed'] and result['would_download_bytes'] == 150
    assert_nothing_staged(tmp_path / 'stage')


def test_a_key_the_channel_lacks_is_named_with_the_keys_it_has(tmp_path, two_caches):
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    with pytest.raises(StoreError) as raised:
        fetch(tmp_path / 'store', tmp_path / 'stage', key='cp313-manylinux_2_41-x86_64-12345678')
    assert 'cp313-manylinux_2_41-x86_64-12345678' in raised.value.msg and KEY in raised.value.msg
    assert raised.value.details['keys'] == [KEY]


def test_an_artifact_altered_in_the_store_is_refused_and_nothing_is_staged(tmp_path, two_caches):
    first = two_caches[0]
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    victim = os.path.join(str(tmp_path / 'store'), artifact_object(first.artifacts[1].sha256))
    with open(victim, 'wb') as handle:
        handle.write(b'X' * 50)
    with pytest.raises(VerificationError, match='altered or truncated in the store') as raised:
        fetch(tmp_path / 'store', tmp_path / 'stage')
    assert first.artifacts[1].filename in raised.value.msg
    assert_nothing_staged(tmp_path / 'stage')


def test_a_manifest_that_does_not_hash_to_its_digest_is_refused(tmp_path, two_caches):
    first = two_caches[0]
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    path = str(tmp_path / 'store' / 'manifests' / (first.digest + '.json'))
    with open(path, 'rb') as handle:
        data = handle.read()
    with open(path, 'wb') as handle:
        handle.write(data.replace(b'"size":50', b'"size":51'))
    with pytest.raises(VerificationError, match='altered in the store'):
        fetch(tmp_path / 'store', tmp_path / 'stage')
    assert_nothing_staged(tmp_path / 'stage')


def test_a_pointer_naming_a_manifest_the_store_lacks_says_so(tmp_path, two_caches):
    first = two_caches[0]
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    os.unlink(str(tmp_path / 'store' / 'manifests' / (first.digest + '.json')))
    with pytest.raises(NotInStore, match='has no manifest %s' % first.digest):
        fetch(tmp_path / 'store', tmp_path / 'stage')


def test_a_pointer_copied_to_another_key_is_refused(tmp_path, two_caches):
    publish(tmp_path / 'store', str(tmp_path / 'c1'))
    root = str(tmp_path / 'store')
    other = 'cp39-manylinux_2_31-x86_64-0badc0de'
    os.link(os.path.join(root, pointer_object('stable', 'python', KEY)), os.path.join(root, pointer_object('stable', 'python', other)))
    with pytest.raises(StoreError, match='copied or altered'):
        fetch(tmp_path / 'store', tmp_path / 'stage', key=other)


def test_a_manifest_listing_a_path_instead_of_a_file_name_is_refused(tmp_path):
    make_cache(str(tmp_path / 'c'), {'a-1.0-py3-none-any.whl': b'A'})
    manifest = Manifest('python', {'key': KEY}, [], [Artifact('../../etc/a-1.0-py3-none-any.whl', 'a', '1.0', 1,
                                                              hashlib.sha256(b'A').hexdigest())])
    backend = open_store({'store': 'file://%s' % (tmp_path / 'store')}, writable=True)
    backend.write('manifests/%s.json' % manifest.digest, manifest.canonical_bytes())
    backend.write(pointer_object('stable', 'python', KEY), Pointer('stable', 'python', KEY, manifest.digest).to_bytes())
    with pytest.raises(ManifestError, match='not a plain file name'):
        fetch(tmp_path / 'store', tmp_path / 'stage')


@pytest.mark.parametrize('url, message', [
    ('ftp://host/x', 'expected a URL of the form'),
    ('not a url', 'expected a URL of the form'),
    ('file://relative/path', 'file:///absolute/path'),
    ('s3:///prefix-without-bucket', 'names no bucket'),
])
def test_store_urls_that_cannot_be_used_are_refused_with_the_form_expected(url, message):
    with pytest.raises(AirgapError, match=message):
        open_store({'store': url})


def test_an_https_store_cannot_be_published_to():
    with pytest.raises(AirgapError, match='read only'):
        open_store({'store': 'https://mirror.example/airgap'}, writable=True)


def test_a_missing_file_store_is_named(tmp_path):
    with pytest.raises(StoreError, match='does not exist'):
        fetch(tmp_path / 'nowhere', tmp_path / 'stage')
