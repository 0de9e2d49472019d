# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed manifests and pointers with ssh-keygen: what is accepted, what is refused and how it is named."""

import hashlib
import json
import os
import re
import subprocess

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._target.fetch_cache import FetchRequest, fetch_cache
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact, Manifest, load_manifest, manifest_path, write_manifest,
)
from ansible_collections.airgap.packages.plugins.module_utils._controller.publish_cache import PublishRequest, publish_caches
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import (
    SignatureError, Signer, Trust, settle_cache_signatures, sign_file,
)
from ansible_collections.airgap.packages.plugins.module_utils._common.staging import is_staged
from ansible_collections.airgap.packages.plugins.module_utils._common.store import Pointer, open_store, pointer_object

KEY = 'cp311-manylinux_2_36-x86_64-e1a41873'


def make_key(directory, name):
    path = os.path.join(str(directory), name)
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path], check=True)
    return path


def allowed_signers(directory, *keys):
    path = os.path.join(str(directory), 'allowed_signers')
    with open(path, 'w') as handle:
        for key in keys:
            with open(key + '.pub') as public:
                handle.write('%s %s\n' % (os.path.basename(key), ' '.join(public.read().split()[:2])))
    return path


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp('keys')
    return {name: make_key(directory, name) for name in ('release', 'rotated', 'stranger')}


def make_cache(directory, payload=b'A' * 64):
    os.makedirs(str(directory), exist_ok=True)
    with open(os.path.join(str(directory), 'a-1.0-py3-none-any.whl'), 'wb') as handle:
        handle.write(payload)
    artifact = Artifact('a-1.0-py3-none-any.whl', 'a', '1.0', len(payload), hashlib.sha256(payload).hexdigest())
    manifest = Manifest('python', {'key': KEY}, [], [artifact])
    write_manifest(str(directory), manifest)
    return manifest


def test_a_signed_manifest_loads_with_its_key_trusted(tmp_path, keys):
    manifest = make_cache(tmp_path / 'c')
    sign_file(manifest_path(str(tmp_path / 'c')), manifest.canonical_bytes(), Signer(keys['release']))
    trust = Trust(allowed_signers(tmp_path, keys['release']))
    assert load_manifest(str(tmp_path / 'c'), trust).digest == manifest.digest


def test_an_unsigned_manifest_is_refused_when_keys_are_trusted(tmp_path, keys):
    make_cache(tmp_path / 'c')
    with pytest.raises(SignatureError, match='is not signed'):
        load_manifest(str(tmp_path / 'c'), Trust(allowed_signers(tmp_path, keys['release'])))


def test_a_manifest_edited_to_match_a_swapped_wheel_is_refused_naming_the_file_and_key(tmp_path, keys):
    cache = tmp_path / 'c'
    manifest = make_cache(cache)
    sign_file(manifest_path(str(cache)), manifest.canonical_bytes(), Signer(keys['release']))
    swapped = b'evil' * 16
    with open(str(cache / 'a-1.0-py3-none-any.whl'), 'wb') as handle:
        handle.write(swapped)
    with open(manifest_path(str(cache))) as handle:
        data = json.load(handle)
    data['artifacts'][0].update(size=len(swapped), sha256=hashlib.sha256(swapped).hexdigest())
    with open(manifest_path(str(cache)), 'w') as handle:
        json.dump(data, handle)
    with pytest.raises(SignatureError) as raised:
        load_manifest(str(cache), Trust(allowed_signers(tmp_path, keys['release'])))
    assert manifest_path(str(cache)) in raised.value.msg and "'release'" in raised.value.msg
    assert 'altered after it was signed' in raised.value.msg


def test_a_manifest_signed_by_an_untrusted_key_names_that_key(tmp_path, keys):
    manifest = make_cache(tmp_path / 'c')
    stranger = Signer(keys['stranger'])
    sign_file(manifest_path(str(tmp_path / 'c')), manifest.canonical_bytes(), stranger)
    with pytest.raises(SignatureError, match=re.escape('signed by key %s, which is not among the trusted keys' % stranger.fingerprint)):
        load_manifest(str(tmp_path / 'c'), Trust(allowed_signers(tmp_path, keys['release'])))


def test_signing_again_with_the_same_key_changes_nothing_and_another_key_replaces_it(tmp_path, keys):
    manifest = make_cache(tmp_path / 'c')
    path = manifest_path(str(tmp_path / 'c'))
    assert sign_file(path, manifest.canonical_bytes(), Signer(keys['release']))
    assert not sign_file(path, manifest.canonical_bytes(), Signer(keys['release']))
    assert sign_file(path, manifest.canonical_bytes(), Signer(keys['rotated']))


def test_rewriting_a_manifest_drops_the_signature_of_the_old_one(tmp_path, keys):
    manifest = make_cache(tmp_path / 'c')
    sign_file(manifest_path(str(tmp_path / 'c')), manifest.canonical_bytes(), Signer(keys['release']))
    make_cache(tmp_path / 'c', payload=b'B' * 64)
    assert not os.path.exists(manifest_path(str(tmp_path / 'c')) + '.sig')


def test_a_builder_refuses_a_current_cache_whose_signature_fails_and_signs_a_new_one(tmp_path, keys):
    manifest = make_cache(tmp_path / 'c')
    trusted = allowed_signers(tmp_path, keys['release'])
    caches = [{'path': str(tmp_path / 'c'), 'changed': True}]
    signer, trust = Signer(keys['release']), Trust(trusted)
    settle_cache_signatures(caches, signer, trust, check_mode=False)
    assert caches[0]['signed'] and load_manifest(str(tmp_path / 'c'), Trust(trusted)).digest == manifest.digest
    again = [{'path': str(tmp_path / 'c'), 'changed': False}]
    settle_cache_signatures(again, signer, trust, check_mode=False)
    assert again[0] == {'path': str(tmp_path / 'c'), 'changed': False, 'signed': False}
    os.unlink(manifest_path(str(tmp_path / 'c')) + '.sig')
    with pytest.raises(SignatureError, match='is not signed'):
        settle_cache_signatures([{'path': str(tmp_path / 'c'), 'changed': False}], signer, trust, False)


def test_a_trusted_keys_file_that_lists_no_key_is_refused(tmp_path):
    empty = tmp_path / 'allowed'
    empty.write_text('# nobody\n')
    with pytest.raises(AirgapError, match='lists no key'):
        Trust(str(empty))
    with pytest.raises(AirgapError, match='cannot read trusted_keys'):
        Trust(str(tmp_path / 'missing'))
    with pytest.raises(AirgapError, match='signing_key .* does not exist'):
        Signer(str(tmp_path / 'missing-key'))


# --- The store: signed pointers and manifests, replays -------------------------------------------------


def publish(store_dir, src=(), manifests=(), signing_key=None):
    request = PublishRequest('stable', src, manifests, signer=Signer(signing_key) if signing_key else None)
    return publish_caches(open_store({'store': 'file://%s' % store_dir}, writable=True), request)


def fetch(store_dir, stage, trusted):
    request = FetchRequest('stable', 'python', KEY, str(stage), trust=Trust(trusted))
    return fetch_cache(open_store({'store': 'file://%s' % store_dir}), request)


def test_a_signed_publish_is_fetched_and_staged_with_its_signature(tmp_path, keys):
    manifest = make_cache(tmp_path / 'c')
    result = publish(tmp_path / 'store', [str(tmp_path / 'c')], signing_key=keys['release'])
    assert result['signed'] == [manifest.digest]
    trusted = allowed_signers(tmp_path, keys['release'])
    fetched = fetch(tmp_path / 'store', tmp_path / 'stage', trusted)
    assert is_staged(str(tmp_path / 'stage'), manifest.digest, Trust(trusted))
    assert fetched['digest'] == manifest.digest
    again = publish(tmp_path / 'store', [str(tmp_path / 'c')], signing_key=keys['release'])
    assert again['changed'] is False


def test_an_unsigned_pointer_is_refused(tmp_path, keys):
    manifest = make_cache(tmp_path / 'c')
    publish(tmp_path / 'store', [str(tmp_path / 'c')], signing_key=keys['release'])
    backend = open_store({'store': 'file://%s' % (tmp_path / 'store')}, writable=True)
    backend.write(pointer_object('stable', 'python', KEY), Pointer('stable', 'python', KEY, manifest.digest, 9).to_bytes())
    with pytest.raises(SignatureError, match='channels/stable/python/%s.json is not signed' % KEY):
        fetch(tmp_path / 'store', tmp_path / 'stage', allowed_signers(tmp_path, keys['release']))
    assert not (tmp_path / 'stage').exists() or os.listdir(str(tmp_path / 'stage')) == []


def test_a_replayed_older_pointer_is_refused_once_a_newer_one_was_followed(tmp_path, keys):
    first = make_cache(tmp_path / 'c1')
    make_cache(tmp_path / 'c2', payload=b'B' * 64)
    trusted = allowed_signers(tmp_path, keys['release'])
    publish(tmp_path / 'store', [str(tmp_path / 'c1')], signing_key=keys['release'])
    pointer_file = os.path.join(str(tmp_path / 'store'), pointer_object('stable', 'python', KEY))
    with open(pointer_file, 'rb') as handle:
        old_pointer = handle.read()
    publish(tmp_path / 'store', [str(tmp_path / 'c2')], signing_key=keys['release'])
    assert fetch(tmp_path / 'store', tmp_path / 'stage', trusted)['sequence'] == 2
    with open(pointer_file, 'rb') as handle:
        new_pointer = handle.read()
    with open(pointer_file, 'wb') as handle:
        handle.write(old_pointer)  # validly signed, but older than what the node followed
    with pytest.raises(SignatureError, match='replayed or stale pointer'):
        fetch(tmp_path / 'store', tmp_path / 'stage', trusted)
    # A rollback is a new, signed pointer with a higher sequence: accepted.
    with open(pointer_file, 'wb') as handle:
        handle.write(new_pointer)
    publish(tmp_path / 'store', manifests=[first.digest], signing_key=keys['release'])
    assert fetch(tmp_path / 'store', tmp_path / 'stage', trusted)['digest'] == first.digest


def test_a_store_manifest_signed_by_an_untrusted_key_is_refused(tmp_path, keys):
    make_cache(tmp_path / 'c')
    publish(tmp_path / 'store', [str(tmp_path / 'c')], signing_key=keys['stranger'])
    with pytest.raises(SignatureError, match='not among the trusted keys'):
        fetch(tmp_path / 'store', tmp_path / 'stage', allowed_signers(tmp_path, keys['release']))


def test_rotating_keys_both_trusted_during_the_roll_then_only_the_new_one(tmp_path, keys):
    make_cache(tmp_path / 'c')
    publish(tmp_path / 'store', [str(tmp_path / 'c')], signing_key=keys['release'])
    (tmp_path / 'both').mkdir()
    both = allowed_signers(tmp_path / 'both', keys['release'], keys['rotated'])
    assert fetch(tmp_path / 'store', tmp_path / 'stage', both)['sequence'] == 1
    resigned = publish(tmp_path / 'store', [str(tmp_path / 'c')], signing_key=keys['rotated'])
    assert resigned['changed'] and resigned['pointers'][0]['sequence'] == 2
    assert fetch(tmp_path / 'store', tmp_path / 'stage', both)['sequence'] == 2
    (tmp_path / 'new').mkdir()
    only_new = allowed_signers(tmp_path / 'new', keys['rotated'])
    assert fetch(tmp_path / 'store', tmp_path / 'stage2', only_new)['sequence'] == 2
    (tmp_path / 'old').mkdir()
    with pytest.raises(SignatureError, match='not among the trusted keys'):
        fetch(tmp_path / 'store', tmp_path / 'stage3', allowed_signers(tmp_path / 'old', keys['release']))
