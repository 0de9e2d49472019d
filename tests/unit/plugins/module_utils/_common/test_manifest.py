# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import hashlib
import json
import os

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ManifestError, VerificationError
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact,
    Manifest,
    TopLevel,
    load_manifest,
    strip_credentials,
    verify_artifacts,
    write_manifest,
)


def artifact(directory, name, payload=b'payload'):
    filename = '%s-1.0-py3-none-any.whl' % name
    with open(os.path.join(directory, filename), 'wb') as handle:
        handle.write(payload)
    return Artifact(filename, name, '1.0', len(payload), hashlib.sha256(payload).hexdigest(), platform='py3-none-any')


def manifest_of(artifacts, requirements=()):
    return Manifest('python', {'key': 'cp311-test'}, list(requirements), artifacts)


def test_digest_does_not_depend_on_artifact_order(tmp_path):
    first, second = artifact(str(tmp_path), 'a'), artifact(str(tmp_path), 'b')
    assert manifest_of([first, second]).digest == manifest_of([second, first]).digest


def test_digest_changes_when_any_artifact_changes(tmp_path):
    one = manifest_of([artifact(str(tmp_path), 'a', b'one')])
    other = manifest_of([artifact(str(tmp_path), 'a', b'two')])
    assert one.digest != other.digest


def test_written_manifest_reads_back_with_the_same_digest(tmp_path):
    written = manifest_of([artifact(str(tmp_path), 'a')], [TopLevel('a>=1', 'a', [])])
    digest = write_manifest(str(tmp_path), written)
    assert load_manifest(str(tmp_path)).digest == digest == written.digest
    # The digest is the sha256 of the canonical JSON (sorted keys, no spaces, ASCII) of what the file says.
    with open(str(tmp_path / 'manifest.json'), 'rb') as handle:
        canonical = json.dumps(json.load(handle), sort_keys=True, separators=(',', ':'), ensure_ascii=True).encode('ascii')
    assert digest == hashlib.sha256(canonical).hexdigest()


def test_manifest_of_another_schema_is_refused_with_the_remedy(tmp_path):
    (tmp_path / 'manifest.json').write_text(json.dumps({'schema': 99, 'ecosystem': 'python'}))
    with pytest.raises(ManifestError, match='schema 99.*rebuild the cache'):
        load_manifest(str(tmp_path))


def test_missing_manifest_names_the_path(tmp_path):
    with pytest.raises(ManifestError, match=str(tmp_path / 'manifest.json')):
        load_manifest(str(tmp_path))


def test_verification_lists_every_bad_file_with_expected_and_actual_values(tmp_path):
    good, truncated, altered, missing = (artifact(str(tmp_path), name) for name in ('good', 'cut', 'flip', 'gone'))
    with open(tmp_path / truncated.filename, 'wb') as handle:
        handle.write(b'pay')
    with open(tmp_path / altered.filename, 'wb') as handle:
        handle.write(b'paXload')
    os.unlink(str(tmp_path / missing.filename))
    with pytest.raises(VerificationError) as failure:
        verify_artifacts(str(tmp_path), [good, truncated, altered, missing])
    message = failure.value.msg
    assert 'good-1.0' not in message
    assert 'cut-1.0-py3-none-any.whl: size 3, expected 7' in message
    flipped = hashlib.sha256(b'paXload').hexdigest()
    assert 'flip-1.0-py3-none-any.whl: sha256 %s, expected %s' % (flipped, altered.sha256) in message
    assert 'gone-1.0-py3-none-any.whl: missing' in message
    assert [p['problem'] for p in failure.value.details['problems']] == ['size mismatch', 'sha256 mismatch', 'missing']


def test_artifacts_for_a_subset_is_the_union_of_their_closures(tmp_path):
    artifacts = [artifact(str(tmp_path), name) for name in ('app', 'lib', 'tool', 'other')]
    manifest = manifest_of(artifacts, [TopLevel('app', 'app', ['lib']), TopLevel('tool', 'tool', [])])
    assert sorted(a.name for a in manifest.artifacts_for(['app'])) == ['app', 'lib']
    assert sorted(a.name for a in manifest.artifacts_for(['app', 'tool'])) == ['app', 'lib', 'tool']
    assert len(manifest.artifacts_for(None)) == 4


def test_asking_for_a_requirement_the_cache_lacks_names_what_it_has(tmp_path):
    manifest = manifest_of([artifact(str(tmp_path), 'app')], [TopLevel('app', 'app', [])])
    with pytest.raises(ManifestError, match='nope not among the top-level requirements of this cache \\(app\\)'):
        manifest.artifacts_for(['nope'])


@pytest.mark.parametrize('url, expected', [
    ('https://user:secret@index.example/simple/', 'https://index.example/simple/'),
    ('https://token@index.example:8443/simple', 'https://index.example:8443/simple'),
    ('https://index.example/simple', 'https://index.example/simple'),
    ('', ''),
])
def test_credentials_are_stripped_from_urls(url, expected):
    assert strip_credentials(url) == expected


def test_artifact_source_never_keeps_credentials():
    kept = Artifact('a-1.0-py3-none-any.whl', 'a', '1.0', 1, '0' * 64, source='https://u:p@host/simple')
    assert 'p@' not in json.dumps(kept.to_dict())


GOOD_ENTRY = {'filename': 'a-1.0-py3-none-any.whl', 'name': 'a', 'version': '1.0', 'size': 1, 'sha256': 'b' * 64}


@pytest.mark.parametrize('field, value, message', [
    ('filename', '', "artifact filename '' is not a plain file name"),
    ('filename', '.incoming-x', "artifact filename '.incoming-x' is not a plain file name"),
    ('filename', '..', "artifact filename '..' is not a plain file name"),
    ('filename', 'sub/a.whl', "artifact filename 'sub/a.whl' is not a plain file name"),
    ('filename', 'a\\b.whl', 'is not a plain file name'),
    ('filename', 5, 'artifact filename 5 is not a plain file name'),
    ('size', True, 'has size True, not a number of bytes'),
    ('size', 1.5, 'has size 1.5, not a number of bytes'),
    ('sha256', 'B' * 64, 'not 64 lowercase hex digits'),
    ('name', '', 'has no name or version'),
    ('requires', 'b', "has requires 'b', not a list of names"),
    ('platform', None, 'has platform None, not a string'),
])
def test_a_manifest_entry_of_the_wrong_shape_is_refused_naming_the_field_and_the_file(field, value, message):
    data = {'schema': 1, 'ecosystem': 'python', 'environment': {'key': 'k'}, 'requirements': [],
            'artifacts': [dict(GOOD_ENTRY, **{field: value})]}
    with pytest.raises(ManifestError) as caught:
        Manifest.from_dict(data, origin='/c/manifest.json')
    assert caught.value.msg.startswith('/c/manifest.json is malformed: ') and message in caught.value.msg
    assert caught.value.msg.endswith('; rebuild the cache')


def test_a_well_formed_entry_is_read_as_written():
    data = {'schema': 1, 'ecosystem': 'python', 'environment': {'key': 'k'}, 'requirements': [], 'artifacts': [GOOD_ENTRY]}
    assert Manifest.from_dict(data).artifacts[0].to_dict()['filename'] == GOOD_ENTRY['filename']


def test_a_file_checked_twice_in_one_run_is_read_once(tmp_path, monkeypatch):
    from ansible_collections.airgap.packages.plugins.module_utils._common import manifest
    reads = []
    real = manifest.sha256_file
    monkeypatch.setattr(manifest, 'sha256_file', lambda path: reads.append(path) or real(path))
    good = artifact(str(tmp_path), 'twice')
    verify_artifacts(str(tmp_path), [good])
    verify_artifacts(str(tmp_path), [good])
    assert reads == [str(tmp_path / good.filename)]


def test_a_file_altered_in_place_between_two_checks_is_read_again_even_with_its_old_mtime(tmp_path):
    good = artifact(str(tmp_path), 'sneaky')
    path = str(tmp_path / good.filename)
    verify_artifacts(str(tmp_path), [good])
    before = os.stat(path)
    with open(path, 'r+b') as handle:
        handle.write(b'X')
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(VerificationError, match='sneaky-1.0-py3-none-any.whl: sha256 .*: altered'):
        verify_artifacts(str(tmp_path), [good])
