# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_state on an offline host: the platform facts, and which staged caches the host is settled on."""

import pytest

pytestmark = pytest.mark.integration

STAGE = '/var/cache/airgap-test-host-state'
VENV = '/opt/host-state/venv'
TOP = 'airgap-fixture-base'


def host_state(fleet_ansible, host, **args):
    return fleet_ansible.module(host, 'airgap.packages.host_state', args)[host]


def python_query(packages=(TOP,)):
    return {'stage': STAGE, 'environments': [{'virtualenv': VENV, 'packages': list(packages)}]}


def test_facts_are_those_of_platform_facts_and_nothing_is_held_before_a_ship(offline_hosts, fleet_ansible):
    host = offline_hosts.names[0]
    facts = fleet_ansible.module(host, 'airgap.packages.platform_facts', {})[host]['ansible_facts']
    state = host_state(fleet_ansible, host, python=python_query(), ruby={'stage': STAGE + '-ruby'})
    assert state.get('failed') is not True, state
    assert state['changed'] is False
    assert state['ansible_facts'] == facts
    assert state['python'] == {'stage': STAGE, 'staged': [], 'settled': []}
    assert state['ruby'] == {'stage': STAGE + '-ruby', 'staged': [], 'settled': []}


def test_a_host_without_ruby_fails_when_gems_are_asked_for_and_says_what_to_do(offline_hosts, fleet_ansible):
    host = offline_hosts.names[0]
    state = host_state(fleet_ansible, host, ruby_executable='/nonexistent/ruby', ruby={'stage': STAGE + '-ruby'})
    assert state.get('failed') is True
    assert 'has no Ruby (/nonexistent/ruby and gem on PATH)' in state['msg']
    assert 'install Ruby on it or leave it out of the play' in state['msg']
    assert state['ansible_facts']['airgap_platform']['ruby'] is None
    # Without a question about gems the same host is simply described without Ruby.
    assert host_state(fleet_ansible, host, ruby_executable='/nonexistent/ruby').get('failed') is not True


def test_a_host_is_settled_on_a_shipped_installed_cache_until_its_venv_drifts(
        tmp_path, offline_hosts, fleet_ansible, ansible, python_index):
    host = offline_hosts.names[0]
    platform = fleet_ansible.module(host, 'airgap.packages.platform_facts', {'gather_ruby': False})[host]
    built = ansible.module('localhost', 'airgap.packages.wheel_cache', {
        'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': [TOP],
        'platforms': [platform['ansible_facts']['airgap_platform']['python']]})['localhost']
    assert built.get('failed') is not True, built
    shipped = fleet_ansible.module(host, 'airgap.packages.ship_cache', {'src': built['caches'][0]['path'], 'dest': STAGE})[host]
    assert shipped.get('failed') is not True, shipped

    # Staged, but the virtualenv does not exist yet.
    assert host_state(fleet_ansible, host, python=python_query())['python']['settled'] == []
    installed = fleet_ansible.module(host, 'airgap.packages.pip_offline',
                                     {'cache': shipped['path'], 'virtualenv': VENV, 'packages': [TOP]})[host]
    assert installed.get('failed') is not True and installed['changed'], installed

    state = host_state(fleet_ansible, host, python=python_query())
    assert state['python']['staged'] == state['python']['settled'] == [shipped['digest']]

    offline_hosts.run(host, [VENV + '/bin/python', '-m', 'pip', 'uninstall', '-y', TOP], check=True)
    assert host_state(fleet_ansible, host, python=python_query())['python']['settled'] == []
    repaired = fleet_ansible.module(host, 'airgap.packages.pip_offline',
                                    {'cache': shipped['path'], 'virtualenv': VENV, 'packages': [TOP]})[host]
    assert [(c['name'], c['action']) for c in repaired['changes']] == [(TOP, 'install')]
    assert host_state(fleet_ansible, host, python=python_query())['python']['settled'] == [shipped['digest']]
