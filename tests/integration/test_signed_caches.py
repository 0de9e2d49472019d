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
import tempfile
import uuid

import pytest

from hosts import HostFleet
from node_image import PullNode
from runner import local_tasks
from sources import make_wheel
from storeserver import StoreWebServer

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


def build(ansible, workdir, dest, platform, python_index, requirements=('airgap-fixture-top==2.0.0',), **options):
    args = dict(options, requirements=list(requirements), platforms=[platform['python']],
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


def evil_wheel(directory, artifact):
    """A valid wheel of the same project and version as artifact, with other code: what an attacker swaps in."""
    return make_wheel(str(directory), artifact['name'], artifact['version'], payload=uuid.uuid4().bytes)


def swap_a_wheel(cache_dir):
    """The attack: replace a wheel and rewrite the manifest so that its size and sha256 match the new file."""
    with open(os.path.join(cache_dir, 'manifest.json')) as handle:
        manifest = json.load(handle)
    artifact = manifest['artifacts'][0]
    with open(evil_wheel(os.path.join(os.path.dirname(cache_dir), 'evil-%s' % uuid.uuid4().hex[:6]), artifact), 'rb') as handle:
        swapped = handle.read()
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


def test_a_signed_cache_ships_and_installs_with_the_key_trusted_on_the_target(
        offline_hosts, fleet_ansible, signed_cache, keys):
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
    with tempfile.TemporaryDirectory() as local:
        copy = os.path.join(local, 'cache')
        shutil.copytree(signed_cache['path'], copy)
        swap_a_wheel(copy)
        offline_hosts.push_dir(host, copy, shipped['path'])  # the staged copy, edited in place on the host
    venv = VENV + '-edited'
    unguarded = fleet_ansible.module(host, 'airgap.packages.pip_offline', {'cache': shipped['path'], 'virtualenv': venv},
                                     check=True)[host]
    assert unguarded.get('failed') is None, unguarded  # without keys the edited manifest is believed
    refused = fleet_ansible.module(host, 'airgap.packages.pip_offline', {
        'cache': shipped['path'], 'virtualenv': venv, 'trusted_keys': ALLOWED})[host]
    assert refused.get('failed') and 'altered after it was signed' in refused['msg'], refused
    assert offline_hosts.run(host, ['test', '-e', venv]).returncode != 0


# --- Pull mode with trusted keys: nodes refuse what the release key did not sign ---------------------


@pytest.fixture(scope='module')
def signing_node(tmp_path_factory, node_image, vpc_endpoint, keys):
    """One node that pulls from a web store on the endpoint address and trusts the release key."""
    fleet = HostFleet(str(tmp_path_factory.mktemp('signing-node')))
    fleet.start(1, reach=[vpc_endpoint])
    yield PullNode(fleet, fleet.names[0], node_image)
    fleet.stop()


@pytest.fixture
def signed_store(tmp_path, tmp_path_factory, ansible, signed_cache, signing_node, keys):
    """A store published from the signed cache with the release key, behind a web server; the node reset."""
    root = tmp_path_factory.mktemp('signed-store')
    publish(ansible, tmp_path, root, [signed_cache['path']], keys['release'])
    server = StoreWebServer(str(root), state_dir=str(tmp_path / 'server'))
    server.start()
    signing_node.sh('rm -rf %s %s /etc/airgap' % (STAGE, os.path.dirname(VENV)))
    trust_on(signing_node.fleet, signing_node.name, keys['release'])
    yield root, server
    server.stop()


def publish(ansible, workdir, root, src=(), signing_key=None, manifests=()):
    args = {'store': 'file://%s' % root, 'src': list(src), 'manifests': list(manifests)}
    if signing_key:
        args['signing_key'] = signing_key
    return local_tasks(ansible, workdir, [{'name': 'publish', 'airgap.packages.publish_cache': args}])['publish']


def pull_vars(server):
    return {'offline_install_python': [{'venv': VENV, 'requirements': ['airgap-fixture-top']}],
            'offline_install_stage_dir': STAGE, 'offline_install_store': server.url,
            'offline_install_trusted_keys': ALLOWED}


def refused(node, server, *expected):
    """Pull, expect a failure whose message holds every expected text, and nothing staged or installed."""
    run = node.pull(pull_vars(server))
    failed = [task['result']['msg'] for task in run.tasks if task['status'] == 'failed']
    assert run.rc != 0 and failed, run
    for text in expected:
        assert text in failed[0], failed[0]
    left = node.sh('find %s -mindepth 2 -maxdepth 2 -name "[0-9a-f]*" 2>/dev/null; test -e %s && echo venv; true'
                   % (STAGE, VENV)).stdout.split()
    assert left == [], left
    return failed[0]


def pointer_path(root, signed_cache):
    return os.path.join(str(root), 'channels', 'stable', 'python', signed_cache['key'] + '.json')


def test_a_signed_channel_is_pulled_and_installed_by_a_node_that_trusts_its_key(signed_store, signing_node):
    _root, server = signed_store
    run = signing_node.pull(pull_vars(server))
    assert run.rc == 0, run
    assert signing_node.sh('%s/bin/python -c "import airgap_fixture_top"' % VENV).returncode == 0
    assert signing_node.pull().total('changed') == 0


def test_a_pointer_replaced_by_an_unsigned_one_is_refused(signed_store, signing_node, signed_cache):
    root, server = signed_store
    path = pointer_path(root, signed_cache)
    with open(path) as handle:
        pointer = json.load(handle)
    del pointer['signature']
    with open(path, 'w') as handle:
        json.dump(pointer, handle)
    refused(signing_node, server, 'channels/stable/python/%s.json is not signed' % signed_cache['key'], ALLOWED)


def test_a_manifest_signed_with_an_untrusted_key_is_refused(
        tmp_path, ansible, signed_store, signing_node, signed_cache, keys):
    root, server = signed_store
    for name in os.listdir(os.path.join(str(root), 'manifests')):
        if name.endswith('.sig'):
            os.unlink(os.path.join(str(root), 'manifests', name))
    os.unlink(pointer_path(root, signed_cache))
    publish(ansible, tmp_path, root, [signed_cache['path']], keys['stranger'])
    refused(signing_node, server, 'not among the trusted keys in %s' % ALLOWED, 'SHA256:')


def test_an_artifact_altered_with_a_manifest_rehashed_to_match_is_refused(tmp_path, ansible, signed_store, signing_node,
                                                                          signed_cache):
    root, server = signed_store
    copy = tmp_path / 'rehashed'
    shutil.copytree(signed_cache['path'], str(copy))
    swap_a_wheel(str(copy))
    # The attacker can write the bucket: the altered wheel, the rehashed manifest under its new digest, and a
    # pointer naming it; what they cannot make is the release key's signature.
    publish(ansible, tmp_path, root, [str(copy)])
    refused(signing_node, server, 'channels/stable/python/%s.json' % signed_cache['key'], 'is not signed')


def test_a_replayed_older_pointer_is_refused_once_the_node_followed_a_newer_one(
        tmp_path, ansible, signed_store, signing_node, signed_cache, platform, python_index, keys):
    root, server = signed_store
    path = pointer_path(root, signed_cache)
    with open(path, 'rb') as handle:
        old_pointer = handle.read()
    newer = build(ansible, tmp_path, tmp_path / 'newer', platform, python_index, signing_key=keys['release'],
                  requirements=['airgap-fixture-top==2.0.0', 'airgap-fixture-base==1.0.0'])
    assert not newer.get('failed'), newer
    newer_cache = newer['caches'][0]
    moved = publish(ansible, tmp_path, root, [newer_cache['path']], keys['release'])
    assert moved['pointers'][0]['sequence'] == 2, moved
    assert signing_node.pull(pull_vars(server)).rc == 0
    with open(path, 'wb') as handle:
        handle.write(old_pointer)
    run = signing_node.pull(pull_vars(server))
    failed = [task['result']['msg'] for task in run.tasks if task['status'] == 'failed']
    assert run.rc != 0 and failed and 'replayed or stale pointer' in failed[0], run


def test_rotating_keys_with_both_trusted_during_the_roll_then_only_the_new_one(
        tmp_path, ansible, signed_store, signing_node, signed_cache, keys):
    root, server = signed_store
    assert signing_node.pull(pull_vars(server)).rc == 0
    trust_on(signing_node.fleet, signing_node.name, keys['release'], keys['rotated'])
    assert signing_node.pull().total('changed') == 0
    resigned = publish(ansible, tmp_path, root, [signed_cache['path']], keys['rotated'])
    assert resigned['changed'] and resigned['signed'], resigned
    assert signing_node.pull().rc == 0
    trust_on(signing_node.fleet, signing_node.name, keys['rotated'])
    run = signing_node.pull()
    # The node holds the cache: it takes the store's new signature and downloads nothing.
    fetched = run.results("Fetch the wheel cache of this node's Python key from the store")['localhost']
    assert run.rc == 0 and fetched['downloaded_bytes'] == 0 and fetched.get('resigned'), run
    assert signing_node.pull().total('changed') == 0
    trust_on(signing_node.fleet, signing_node.name, keys['release'])
    old_only = signing_node.pull()
    assert old_only.rc != 0, old_only
