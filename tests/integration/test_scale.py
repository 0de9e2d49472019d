# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Thirty offline hosts from one controller, forks equal to the host count: every host converges, a second run
changes nothing and sends nothing, and when a tenth of the hosts drift, only they change.

Behaviour only: how long these runs take is measured in bench/, never asserted here.
"""

import os

import pytest

from hosts import HostFleet
from runner import REPO, Ansible

pytestmark = pytest.mark.integration

HOSTS = 30
SITE = os.path.join(REPO, 'playbooks', 'site.yml')
VENV = '/opt/scale-test/venv'
GEM_HOME = '/opt/scale-test/gems'
STAGE = '/var/cache/airgap-scale-test'
SHIP = 'airgap.packages.ship_cache'


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    hosts = HostFleet(str(tmp_path_factory.mktemp('scale-hosts')))
    hosts.start(HOSTS)
    yield hosts
    hosts.stop()


@pytest.fixture(scope='module')
def role(fleet, tmp_path_factory, python_index, gem_source):
    """Runs site.yml on the whole fleet with one set of variables."""
    role_vars = {
        'offline_install_python': [{'venv': VENV, 'requirements': ['airgap-fixture-top==2.0.0']}],
        'offline_install_gems': ['airgap_chain_a'],
        'offline_install_index_url': python_index.url,
        'offline_install_gem_sources': [gem_source.url],
        'offline_install_include_installers': False,
        'offline_install_cache_dir': str(tmp_path_factory.mktemp('scale-caches')),
        'offline_install_stage_dir': STAGE,
        'offline_install_gem_install_dir': GEM_HOME,
    }
    ansible = Ansible(inventory=fleet.inventory, env={'ANSIBLE_FORKS': str(HOSTS)})

    def run():
        ran = ansible.playbook(SITE, extra_vars=role_vars)
        assert ran.rc == 0, ran
        return ran
    return run


@pytest.fixture(scope='module')
def first_two_runs(role):
    return role(), role()


def changed_hosts(run):
    return sorted(name for name, counts in run.stats.items() if counts.get('changed'))


def sent_bytes(run):
    return sum(task['result'].get('transferred_bytes', 0) for task in run.tasks if task['action'] == SHIP)


def test_every_host_of_thirty_converges_in_one_run(fleet, first_two_runs):
    first, _second = first_two_runs
    assert len(fleet.names) == HOSTS and changed_hosts(first) == sorted(fleet.names)
    shipped = [task['host'] for task in first.tasks if task['action'] == SHIP and task['result'].get('shipped')]
    assert sorted(set(shipped)) == sorted(fleet.names) and len(shipped) == 2 * HOSTS  # one wheel and one gem cache each
    for name in fleet.names:
        imported = fleet.run(name, [VENV + '/bin/python', '-c', 'import airgap_fixture_top, airgap_fixture_mid; print("ok")'])
        assert imported.stdout.strip() == 'ok', (name, imported.stderr)
        required = fleet.run(name, ['env', 'GEM_HOME=' + GEM_HOME, 'GEM_PATH=' + GEM_HOME, 'ruby', '-e',
                                    'require "airgap_chain_a"; puts :ok'])
        assert required.stdout.strip() == 'ok', (name, required.stderr)


def test_the_second_run_on_thirty_hosts_changes_nothing_and_sends_nothing(fleet, first_two_runs):
    first, second = first_two_runs
    assert sent_bytes(first) > 0
    assert second.total('changed') == 0 and changed_hosts(second) == [], second.stats
    assert sent_bytes(second) == 0
    assert sorted(second.stats) == sorted(fleet.names)


def test_when_a_tenth_of_the_hosts_drift_only_they_change(fleet, role, first_two_runs):
    drifted = fleet.names[::10]
    assert len(drifted) == HOSTS // 10
    for name in drifted:
        # A package's files gone from under its dist-info, as a careless cleanup leaves it.
        removed = fleet.run(name, ['sh', '-c', 'rm -r %s/lib/python3*/site-packages/airgap_fixture_mid' % VENV])
        assert removed.returncode == 0, removed.stderr
    repaired = role()
    assert changed_hosts(repaired) == sorted(drifted), repaired.stats
    assert sent_bytes(repaired) == 0
    for name in drifted:
        imported = fleet.run(name, [VENV + '/bin/python', '-c', 'import airgap_fixture_mid; print("ok")'])
        assert imported.stdout.strip() == 'ok', (name, imported.stderr)
    assert role().total('changed') == 0
