# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test bed itself: target hosts are reachable over ssh and truly offline and separate."""

import os
import subprocess
import sys
import uuid

import pytest

from hosts import HostFleet

pytestmark = pytest.mark.integration


def test_ansible_reaches_every_host_over_ssh_with_strict_host_keys(offline_hosts, fleet_ansible):
    results = fleet_ansible.module('all', 'ansible.builtin.ping')
    assert sorted(results) == sorted(offline_hosts.names)
    assert all(result.get('ping') == 'pong' for result in results.values()), results


def test_hosts_have_no_default_route(offline_hosts):
    for name in offline_hosts.names:
        routes = offline_hosts.run(name, ['ip', 'route', 'show', 'default'], check=True).stdout
        assert routes.strip() == '', 'host %s has a default route: %s' % (name, routes)


def test_pip_download_fails_on_a_host(offline_hosts):
    result = offline_hosts.run(offline_hosts.names[0], [
        'python3', '-m', 'pip', 'download', '--no-cache-dir', '--retries', '0', '--timeout', '5', '-d', '/tmp/dl', 'six'])
    assert result.returncode != 0
    assert 'No matching distribution' in result.stderr or 'ERROR' in result.stderr, result.stderr


def test_pip_on_a_host_sees_none_of_the_controllers_configuration(offline_hosts):
    result = offline_hosts.run(offline_hosts.names[0], ['python3', '-m', 'pip', 'config', 'list'], check=True)
    assert result.stdout.strip() == ''
    # Other tests may install under /opt on a host; none of the controller's own entries may show.
    controller_paths = ['/etc/pip.conf'] + [os.path.join('/opt', name) for name in os.listdir('/opt')]
    visible = offline_hosts.run(offline_hosts.names[0], ['ls', '-d'] + controller_paths)
    assert visible.stdout.strip() == '', visible.stdout


def test_gem_fetch_fails_on_a_host(offline_hosts):
    result = offline_hosts.run(offline_hosts.names[0], ['gem', 'fetch', 'rake'], timeout=120)
    assert result.returncode != 0 or 'ERROR' in result.stderr + result.stdout
    assert 'Downloaded' not in result.stdout


def test_a_host_cannot_reach_the_controllers_package_servers(offline_hosts, gem_source, python_index):
    host = offline_hosts.host(offline_hosts.names[0])
    for url_port in (gem_source.port, python_index.port):
        for address in ('127.0.0.1', host.gateway):
            result = offline_hosts.run(host.name, [
                'python3', '-c', 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)',
                address, str(url_port)])
            assert result.returncode != 0, 'host reached %s:%d' % (address, url_port)


def test_a_file_installed_on_one_host_is_absent_on_the_other_and_on_the_controller(offline_hosts):
    marker = '/usr/local/lib/airgap-marker-%s' % uuid.uuid4().hex
    first, second = offline_hosts.names[:2]
    offline_hosts.run(first, ['touch', marker], check=True)
    assert offline_hosts.run(first, ['test', '-e', marker]).returncode == 0
    assert offline_hosts.run(second, ['test', '-e', marker]).returncode != 0
    assert not os.path.exists(marker)


def test_stopping_a_fleet_removes_its_namespaces_and_processes(tmp_path):
    fleet = HostFleet(str(tmp_path / 'fleet'))
    started = fleet.start(1)
    pid, netns = started[0].pid, started[0].netns
    fleet.stop()
    assert not os.path.exists('/proc/%d/status' % pid) or 'zombie' in open('/proc/%d/status' % pid).read()
    assert netns not in os.popen('ip netns list').read().split()


def test_a_crashed_fleet_does_not_block_a_new_one(tmp_path):
    crashed = HostFleet(str(tmp_path / 'crashed'))
    crashed.start(1)
    # A run that dies without stopping its hosts: a new fleet must start beside the leftovers.
    fresh = HostFleet(str(tmp_path / 'fresh'))
    try:
        started = fresh.start(1)
        assert started[0].netns != crashed.hosts[0].netns
        assert fresh.run(started[0].name, ['true']).returncode == 0
    finally:
        fresh.stop()
        HostFleet(str(tmp_path / 'crashed')).stop()


def test_command_line_writes_an_inventory_and_stops_by_state_dir(tmp_path):
    state = str(tmp_path / 'cli')
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'harness', 'hosts.py')
    started = subprocess.run([sys.executable, script, 'start', '--count', '1', '--state-dir', state],
                             capture_output=True, text=True, check=True)
    assert started.stdout.strip() == os.path.join(state, 'inventory.yml')
    assert os.path.exists(os.path.join(state, 'inventory.yml'))
    subprocess.run([sys.executable, script, 'stop', '--state-dir', state], check=True)
    assert HostFleet(state).hosts == []
