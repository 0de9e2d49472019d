# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ship_cache: one verified stream per cache, nothing sent when the target already holds it."""

import hashlib
import json
import os
import shlex

import pytest
from runner import Ansible

from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact,
    Manifest,
    TopLevel,
    write_manifest,
)

pytestmark = pytest.mark.integration

STAGE = '/var/cache/airgap-test-ship'


def make_cache(directory, payloads):
    os.makedirs(directory, exist_ok=True)
    artifacts = []
    for index, payload in enumerate(payloads):
        filename = 'pkg%d-1.0-py3-none-any.whl' % index
        with open(os.path.join(directory, filename), 'wb') as handle:
            handle.write(payload)
        artifacts.append(Artifact(filename, 'pkg%d' % index, '1.0', len(payload), hashlib.sha256(payload).hexdigest(),
                                  platform='py3-none-any'))
    manifest = Manifest('python', {'key': 'test'}, [TopLevel('pkg0', 'pkg0', [])], artifacts)
    # A file the manifest does not list is never shipped.
    with open(os.path.join(directory, 'stray.whl'), 'wb') as handle:
        handle.write(b'not listed')
    return write_manifest(directory, manifest)


def ship(fleet_ansible, src, host, check=False, dest=STAGE, keep=2):
    return fleet_ansible.module(host, 'airgap.packages.ship_cache', {'src': src, 'dest': dest, 'keep': keep},
                                check=check)[host]


def test_first_ship_sends_one_archive_and_the_second_sends_nothing(tmp_path, offline_hosts, fleet_ansible):
    host = offline_hosts.names[0]
    src = str(tmp_path / 'cache')
    digest = make_cache(src, [os.urandom(200000), os.urandom(1000)])

    first = ship(fleet_ansible, src, host)
    assert first['changed'] is True and first['shipped'] is True, first
    assert first['transferred_bytes'] > 200000
    assert first['path'] == '%s/%s' % (STAGE, digest)
    listing = offline_hosts.run(host, ['ls', first['path']], check=True).stdout.split()
    assert sorted(listing) == ['manifest.json', 'pkg0-1.0-py3-none-any.whl', 'pkg1-1.0-py3-none-any.whl']

    second = ship(fleet_ansible, src, host)
    assert second['changed'] is False and second['transferred_bytes'] == 0, second

    check = ship(fleet_ansible, src, host, check=True)
    assert check['changed'] is False and check['transferred_bytes'] == 0


def test_check_mode_reports_a_ship_without_sending(tmp_path, offline_hosts, fleet_ansible):
    host = offline_hosts.names[1]
    src = str(tmp_path / 'cache')
    digest = make_cache(src, [os.urandom(5000)])
    result = ship(fleet_ansible, src, host, check=True)
    assert result['changed'] is True and result['shipped'] is True and result['transferred_bytes'] == 0
    assert offline_hosts.run(host, ['test', '-e', '%s/%s' % (STAGE, digest)]).returncode != 0


def test_an_altered_staged_copy_is_replaced_by_a_verified_one(tmp_path, offline_hosts, fleet_ansible):
    host = offline_hosts.names[0]
    src = str(tmp_path / 'cache')
    make_cache(src, [os.urandom(3000)])
    path = ship(fleet_ansible, src, host)['path']
    offline_hosts.run(host, ['truncate', '-s', '10', path + '/pkg0-1.0-py3-none-any.whl'], check=True)

    again = ship(fleet_ansible, src, host)
    assert again['changed'] is True and again['transferred_bytes'] > 0
    size = offline_hosts.run(host, ['stat', '-c', '%s', path + '/pkg0-1.0-py3-none-any.whl'], check=True).stdout
    assert int(size) == 3000


def test_a_leftover_of_an_interrupted_transfer_is_never_used(tmp_path, offline_hosts, fleet_ansible):
    host = offline_hosts.names[1]
    src = str(tmp_path / 'cache')
    digest = make_cache(src, [os.urandom(4000)])
    # What a transfer killed half-way leaves: a directory named by the digest lacking files.
    offline_hosts.run(host, ['mkdir', '-p', '%s/%s' % (STAGE, digest)], check=True)
    offline_hosts.run(host, ['cp', '/etc/hostname', '%s/%s/manifest.json' % (STAGE, digest)], check=True)
    result = ship(fleet_ansible, src, host)
    assert result['changed'] is True and result['transferred_bytes'] > 0
    assert ship(fleet_ansible, src, host)['changed'] is False


def test_only_the_newest_staged_digests_are_kept(tmp_path, offline_hosts, fleet_ansible):
    host = offline_hosts.names[0]
    dest = STAGE + '-keep'
    digests = []
    for index in range(3):
        src = str(tmp_path / ('cache%d' % index))
        digests.append(make_cache(src, [os.urandom(100 + index)]))
        result = ship(fleet_ansible, src, host, dest=dest, keep=2)
    assert result['pruned'] == [digests[0]]
    staged = offline_hosts.run(host, ['ls', dest], check=True).stdout.split()
    assert sorted(staged) == sorted(digests[1:])


def test_a_directory_without_a_manifest_is_refused_on_the_controller(tmp_path, offline_hosts, fleet_ansible):
    host = offline_hosts.names[0]
    result = ship(fleet_ansible, str(tmp_path), host)
    assert result.get('failed') is True
    assert 'manifest.json' in result['msg']


def test_a_digest_host_state_reported_settled_is_answered_without_asking_the_host(tmp_path, ansible):
    src = str(tmp_path / 'cache')
    digest = make_cache(src, [os.urandom(1000)])
    # A host nobody can reach: only an answer that never connects can succeed.
    inventory = tmp_path / 'inventory.ini'
    inventory.write_text('gone ansible_host=10.250.255.254 ansible_connection=ssh ansible_ssh_common_args="-o ConnectTimeout=3"\n')
    args = {'src': src, 'dest': STAGE, 'settled': ['0' * 64, digest]}
    answered = ansible.module('gone', 'airgap.packages.ship_cache', args, inventory=str(inventory))['gone']
    assert answered.get('failed') is not True and answered.get('unreachable') is not True, answered
    assert answered['changed'] is False and answered['settled'] is True and answered['present'] is True
    assert answered['transferred_bytes'] == 0 and answered['path'] == '%s/%s' % (STAGE, digest)

    asked = ansible.module('gone', 'airgap.packages.ship_cache', dict(args, settled=['0' * 64]), inventory=str(inventory))['gone']
    assert asked.get('unreachable') is True or asked.get('failed') is True, asked

    wrong = ansible.module('gone', 'airgap.packages.ship_cache', dict(args, settled=digest), inventory=str(inventory))['gone']
    assert wrong.get('failed') is True and 'settled must be a list of digests' in wrong['msg']


def ship_verbosely(offline_hosts, tmp_path, src, ssh_args, dest, extra_vars=None):
    """ship_cache to every offline host in one play at -vvvv: (results by host, the ssh and sftp commands that sent
    the cache archive, the other ssh and sftp commands: module runs and the modules' own files)."""
    play = [{'hosts': 'offline', 'gather_facts': False,
             'tasks': [{'name': 'ship', 'airgap.packages.ship_cache': {'src': src, 'dest': dest}}]}]
    path = tmp_path / 'ship.yml'
    path.write_text(json.dumps(play))
    run = Ansible(inventory=offline_hosts.inventory, env={'ANSIBLE_SSH_ARGS': ssh_args, 'ANSIBLE_VERBOSITY': '4'}).playbook(
        str(path), extra_vars=extra_vars)
    assert run.rc == 0, run
    archives, others, putting = [], [], {}
    for line in run.stdout.splitlines():
        host = line.split('>', 1)[0]
        if ' PUT ' in line:
            putting[host] = '/airgap-ship-' in line
        elif 'SSH: EXEC ' in line:
            command = shlex.split(line.split('SSH: EXEC ', 1)[1])
            (archives if command[0] in ('sftp', 'scp') and putting.pop(host, False) else others).append(command)
    return dict((task['host'], task['result']) for task in run.tasks), archives, others


@pytest.mark.parametrize('ssh_args, persist', [
    # Ansible's default ssh_args; -C alone with the inventory's ControlPersist (its ssh_common_args); -C with no
    # ControlPersist anywhere; and ssh_args that ask for no compression at all.
    ('-C -o ControlMaster=auto -o ControlPersist=60s', True),
    ('-C', True),
    ('-C', False),
    ('-o ControlMaster=auto -o ControlPersist=60s', True),
])
def test_the_archive_goes_without_ssh_compression_while_the_rest_keeps_the_users_ssh_args(
        tmp_path, offline_hosts, ssh_args, persist):
    src = str(tmp_path / 'cache')
    # Random bytes do not compress: what a wheel's zip looks like to ssh.
    digest = make_cache(src, [os.urandom(3 * 2 ** 20), os.urandom(1000)])
    dest = '%s-plain' % STAGE
    extra_vars = None if persist else {
        'ansible_ssh_common_args': '-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes' % offline_hosts.known_hosts}
    compressed = '-C' in ssh_args.split()
    results, archives, others = ship_verbosely(offline_hosts, tmp_path, src, ssh_args, dest, extra_vars)
    for host in offline_hosts.names:
        assert results[host]['shipped'] is True and results[host]['transferred_bytes'] > 3 * 2 ** 20, results[host]
        listing = offline_hosts.run(host, ['ls', '%s/%s' % (dest, digest)], check=True).stdout.split()
        assert sorted(listing) == ['manifest.json', 'pkg0-1.0-py3-none-any.whl', 'pkg1-1.0-py3-none-any.whl']
        offline_hosts.run(host, ['rm', '-r', dest], check=True)
    assert len(archives) == len(offline_hosts.names) and others, (archives, others)
    for argv in archives:
        assert '-C' not in argv and ('Compression=no' in argv) is compressed, argv
        # A multiplexed session keeps its master's compression: the archive has a master of its own.
        assert any(a.startswith('ControlPath=') and '/ap-' in a for a in argv) is (compressed and persist), argv
    for argv in others:
        assert ('-C' in argv) is compressed and 'Compression=no' not in argv, argv
        assert not any('/ap-' in a for a in argv), argv
