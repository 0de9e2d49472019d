# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed caches on offline hosts: with trusted keys configured, what was not signed by them is refused.

The attack throughout: swap a wheel and edit the manifest so that its size and sha256 match the
swapped file. Without keys that goes unnoticed (the first test shows it); with keys it is refused
on the controller, on the target and from the store, naming the file and the key.
"""

import hashlib
import json
import os
import shutil
import subprocess
import uuid

import pytest

from runner import local_tasks

pytestmark = pytest.mark.integration

STAGE = '/var/cache/airgap-signed-test'
ALLOWED = '/etc/airgap/allowed_signers'
VENV = '/opt/signed-test/venv'


def make_key(directory, name):
    path = os.path.join(str(directory), name)
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path], check=True)
    return path


def allowed_signers_line(key):
    with open(key + '.pub') as handle:
        return '%s %s\n' % (os.path.basename(key), ' '.join(handle.read().split()[:2]))


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp('signing-keys')
    found = dict((name, make_key(directory, name)) for name in ('release', 'rotated', 'stranger'))
    found['allowed'] = str(directory / 'allowed_signers')
    with open(found['allowed'], 'w') as handle:
        handle.write(allowed_signers_line(found['release']))
    return found


def trust_on(fleet, host, *keys):
    fleet.run(host, ['sh', '-c', 'mkdir -p /etc/airgap && cat > %s' % ALLOWED], check=True,
              input=''.join(allowed_signers_line(key) for key in keys))


@pytest.fixture(scope='module')
def platform(offline_hosts, fleet_ansible):
    host = offline_hosts.names[0]
    return fleet_ansible.module(host, 'airgap.packages.platform_facts', {'gather_ruby': False})[host]['ansible_facts'][
        'airgap_platform']


def build(ansible, workdir, dest, platform, python_index, **options):
    args = dict(options, requirements=['airgap-fixture-top==2.0.0'], platforms=[platform['python']],
                index_url=python_index.url, include_installers=False, dest=str(dest))
    return local_tasks(ansible, workdir, [{'name': 'build', 'airgap.packages.wheel_cache': args,
                                           'ignore_errors': True}])['build']


@pytest.fixture(scope='module')
def signed_cache(tmp_path_factory, ansible, platform, python_index, keys):
    root = tmp_path_factory.mktemp('signed-cache')
    result = build(ansible, root, root / 'caches', platform, python_index, signing_key=keys['release'])
    assert not result.get('failed'), result
    cache = result['caches'][0]
    assert cache['signed'] and os.path.isfile(os.path.join(cache['path'], 'manifest.json.sig'))
    return cache


def swap_a_wheel(cache_dir):
    """The attack: replace a wheel and rewrite the manifest so that its size and sha256 match the new file."""
    with open(os.path.join(cache_dir, 'manifest.json')) as handle:
        manifest = json.load(handle)
    artifact = manifest['artifacts'][0]
    swapped = b'PK\x05\x06' + b'\0' * 18 + uuid.uuid4().bytes
    with open(os.path.join(cache_dir, artifact['filename']), 'wb') as handle:
        handle.write(swapped)
    artifact.update(size=len(swapped), sha256=hashlib.sha256(swapped).hexdigest())
    with open(os.path.join(cache_dir, 'manifest.json'), 'w') as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
    return artifact['filename']


def test_without_keys_a_rehashed_manifest_goes_unnoticed_and_with_keys_the_builder_refuses_it(
        tmp_path, ansible, platform, python_index, signed_cache, keys):
    copy = tmp_path / 'caches' / os.path.basename(signed_cache['path'])
    shutil.copytree(signed_cache['path'], str(copy))
    swap_a_wheel(str(copy))
    unguarded = build(ansible, tmp_path, tmp_path / 'caches', platform, python_index)
    assert not unguarded.get('failed') and unguarded['changed'] is False, unguarded
    guarded = build(ansible, tmp_path, tmp_path / 'caches', platform, python_index, trusted_keys=keys['allowed'])
    assert guarded.get('failed'), guarded
    assert str(copy / 'manifest.json') in guarded['msg'] and "'release'" in guarded['msg']
    assert 'altered after it was signed' in guarded['msg']


def test_a_signed_cache_ships_and_installs_with_the_key_trusted_on_the_target(offline_hosts, fleet_ansible, signed_cache,
                                                                               keys):
    host = offline_hosts.names[0]
    trust_on(offline_hosts, host, keys['release'])
    shipped = fleet_ansible.module(host, 'airgap.packages.ship_cache', {
        'src': signed_cache['path'], 'dest': STAGE, 'trusted_keys': ALLOWED})[host]
    assert shipped.get('failed') is None and shipped['shipped'], shipped
    assert offline_hosts.run(host, ['test', '-f', shipped['path'] + '/manifest.json.sig']).returncode == 0
    installed = fleet_ansible.module(host, 'airgap.packages.pip_offline', {
        'cache': shipped['path'], 'virtualenv': VENV, 'trusted_keys': ALLOWED})[host]
    assert installed.get('failed') is None and installed['changed'], installed


def test_a_manifest_altered_on_the_controller_after_signing_is_refused_on_the_target(
        tmp_path, offline_hosts, fleet_ansible, signed_cache, keys):
    host = offline_hosts.names[1]
    trust_on(offline_hosts, host, keys['release'])
    copy = tmp_path / 'altered'
    shutil.copytree(signed_cache['path'], str(copy))
    swap_a_wheel(str(copy))
    shipped = fleet_ansible.module(host, 'airgap.packages.ship_cache', {
        'src': str(copy), 'dest': STAGE + '-altered', 'trusted_keys': ALLOWED})[host]
    assert shipped.get('failed'), shipped
    assert 'manifest.json' in shipped['msg'] and "'release'" in shipped['msg'], shipped['msg']
    listed = offline_hosts.run(host, ['sh', '-c', 'ls -A %s-altered 2>/dev/null' % STAGE]).stdout.split()
    assert listed == []


def test_a_staged_copy_edited_to_match_a_swapped_wheel_is_refused_before_pip_runs(
        offline_hosts, fleet_ansible, signed_cache, keys):
    host = offline_hosts.names[1]
    trust_on(offline_hosts, host, keys['release'])
    shipped = fleet_ansible.module(host, 'airgap.packages.ship_cache', {
        'src': signed_cache['path'], 'dest': STAGE + '-edited', 'trusted_keys': ALLOWED})[host]
    assert shipped.get('failed') is None, shipped
    script = ('import hashlib, json, sys\n'
              'd = sys.argv[1]; m = json.load(open(d + "/manifest.json")); a = m["artifacts"][0]\n'
              'data = b"PK\\x05\\x06" + b"\\0" * 18\n'
              'open(d + "/" + a["filename"], "wb").write(data)\n'
              'a.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())\n'
              'json.dump(m, open(d + "/manifest.json", "w"))\n')
    offline_hosts.run(host, ['python3', '-c', script, shipped['path']], check=True)
    venv = VENV + '-edited'
    unguarded = fleet_ansible.module(host, 'airgap.packages.pip_offline', {'cache': shipped['path'], 'virtualenv': venv},
                                     check=True)[host]
    assert unguarded.get('failed') is None, unguarded  # without keys the edited manifest is believed
    refused = fleet_ansible.module(host, 'airgap.packages.pip_offline', {
        'cache': shipped['path'], 'virtualenv': venv, 'trusted_keys': ALLOWED})[host]
    assert refused.get('failed') and 'altered after it was signed' in refused['msg'], refused
    assert offline_hosts.run(host, ['test', '-e', venv]).returncode != 0
