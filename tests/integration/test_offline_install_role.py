# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The offline_install role end to end on offline hosts: converge, idempotence, check mode, drift, interruption."""

import glob
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from hosts import HostFleet
from runner import REPO, Ansible, ansible_env
from sources import make_wheel

pytestmark = pytest.mark.integration

SITE = os.path.join(REPO, 'playbooks', 'site.yml')
VENV = '/opt/role-test/venv'
GEM_HOME = '/opt/role-test/gems'
STAGE = '/var/cache/airgap-role-test'
STATE_TASK = 'Gather the facts that decide which artifacts fit each host, and the caches each host is settled on'
STEP_ACTIONS = ('airgap.packages.ship_cache', 'airgap.packages.pip_offline', 'airgap.packages.gem_offline')


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    hosts = HostFleet(str(tmp_path_factory.mktemp('role-hosts')))
    hosts.start(2)
    yield hosts
    hosts.stop()


@pytest.fixture(scope='module')
def role_vars(tmp_path_factory, python_index, gem_source):
    return {
        'offline_install_python': [{'venv': VENV, 'requirements': ['airgap-fixture-top==2.0.0']}],
        'offline_install_gems': ['airgap_chain_a', {'name': 'airgap_twover', 'version': '1.0.0'}],
        'offline_install_index_url': python_index.url,
        'offline_install_gem_sources': [gem_source.url],
        'offline_install_include_installers': False,
        'offline_install_cache_dir': str(tmp_path_factory.mktemp('role-caches')),
        'offline_install_stage_dir': STAGE,
        'offline_install_gem_install_dir': GEM_HOME,
    }


@pytest.fixture(scope='module')
def converged(fleet, role_vars):
    """The fleet after a first run of the role, and that run."""
    run = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=role_vars)
    assert run.rc == 0, run
    return run


def ship_results(run):
    return [task['result'] for task in run.tasks if task['action'] == 'airgap.packages.ship_cache']


def test_first_run_installs_everything_on_every_host(fleet, converged):
    assert converged.total('changed') > 0
    for name in fleet.names:
        imported = fleet.run(name, [VENV + '/bin/python', '-c', 'import airgap_fixture_top, airgap_fixture_mid; print("ok")'])
        assert imported.stdout.strip() == 'ok', imported.stderr
        required = fleet.run(name, ['env', 'GEM_HOME=' + GEM_HOME, 'GEM_PATH=' + GEM_HOME, 'ruby', '-e',
                                    'require "airgap_chain_a"; require "airgap_twover"; puts AirgapTwover::VERSION'])
        assert required.stdout.strip() == '1.0.0', required.stderr
    assert all(result['transferred_bytes'] > 0 for result in ship_results(converged))


def test_second_run_changes_nothing_and_transfers_nothing(fleet, role_vars, converged):
    run = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=role_vars)
    assert run.rc == 0, run
    assert run.total('changed') == 0, run.stats
    # Each host is settled on the digests the first run shipped it, so nothing is shipped or installed.
    first = {}
    for task in converged.tasks:
        if task['action'] == 'airgap.packages.ship_cache':
            first.setdefault(task['host'], []).append(task['result']['digest'])
    states = run.results(STATE_TASK)
    for name in fleet.names:
        assert sorted(states[name]['python']['settled'] + states[name]['ruby']['settled']) == sorted(first[name])
    assert [task for task in run.tasks if task['action'] in STEP_ACTIONS] == []
    # A settled host ends the role after its summary: no later task, not even a skipped one, is run for it.
    for name in fleet.names:
        ran = [task['action'] for task in run.tasks if task['host'] == name]
        assert ran[-1] == 'ansible.builtin.debug' and ran.count('ansible.builtin.debug') == 1, ran
    summaries = run.results('Report what this host received and what changed')
    for name in fleet.names:
        assert summaries[name]['msg'] == [
            'python cache %s: already on the host; no package changed' % states[name]['python']['settled'][0][:12],
            'gem cache %s: already on the host; no gem changed' % states[name]['ruby']['settled'][0][:12]]


def test_a_staged_cache_altered_on_one_host_is_shipped_anew_to_that_host_only(fleet, role_vars, converged):
    altered, clean = fleet.names
    wheel = fleet.run(altered, ['sh', '-c', 'ls %s/python/*/*.whl | head -n 1' % STAGE], check=True).stdout.strip()
    fleet.run(altered, ['sh', '-c', 'printf x >> %s' % wheel], check=True)

    run = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=role_vars)
    assert run.rc == 0, run
    assert run.results(STATE_TASK)[altered]['python']['settled'] == []
    shipped = run.results("Ship the wheel cache of this host's Python key")
    assert shipped[altered]['transferred_bytes'] > 0 and shipped[altered]['changed']
    assert clean not in shipped  # settled: it never entered the ship step
    built = glob.glob(os.path.join(role_vars['offline_install_cache_dir'], 'python', '*', os.path.basename(wheel)))
    with open(built[0], 'rb') as handle:
        expected = hashlib.sha256(handle.read()).hexdigest()
    assert fleet.run(altered, ['sha256sum', wheel]).stdout.split()[0] == expected
    assert Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=role_vars).total('changed') == 0


def test_check_mode_on_a_converged_fleet_reports_no_change(fleet, role_vars, converged):
    run = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=role_vars, check=True)
    assert run.rc == 0, run
    assert run.total('changed') == 0, run.stats


def test_check_mode_reports_exactly_the_drifted_package_and_a_run_repairs_only_it(fleet, role_vars, converged):
    drifted, clean = fleet.names
    fleet.run(drifted, [VENV + '/bin/python', '-m', 'pip', 'uninstall', '-y', 'airgap-fixture-mid'], check=True)
    ansible = Ansible(inventory=fleet.inventory)

    check = ansible.playbook(SITE, extra_vars=role_vars, check=True, diff=True)
    assert check.rc == 0, check
    assert check.stats[clean]['changed'] == 0
    assert check.stats[drifted]['changed'] == 1
    install = check.results('Install into each Python environment from the staged wheel cache')
    planned = [(change['name'], change['action']) for item in install[drifted]['results'] for change in item['changes']]
    assert planned == [('airgap-fixture-mid', 'install')]
    assert fleet.run(drifted, [VENV + '/bin/python', '-c', 'import airgap_fixture_mid']).returncode != 0

    repair = ansible.playbook(SITE, extra_vars=role_vars)
    assert repair.rc == 0, repair
    assert repair.stats[clean]['changed'] == 0 and repair.stats[drifted]['changed'] == 1
    done = [(c['name'], c['action']) for item in repair.results(
        'Install into each Python environment from the staged wheel cache')[drifted]['results'] for c in item['changes']]
    assert done == [('airgap-fixture-mid', 'install')]
    assert ansible.playbook(SITE, extra_vars=role_vars).total('changed') == 0


def test_a_settled_host_ends_the_role_only_and_runs_the_tasks_after_it(tmp_path, fleet, role_vars, converged):
    playbook = tmp_path / 'after.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'all', 'gather_facts': False,
        'tasks': [
            {'name': 'Include the role', 'ansible.builtin.include_role': {'name': 'airgap.packages.offline_install'}},
            {'name': 'A task of the play after the role', 'ansible.builtin.debug': {'msg': 'after'}},
        ],
        'post_tasks': [{'name': 'A post task', 'ansible.builtin.debug': {'msg': 'post'}}],
    }]))
    run = Ansible(inventory=fleet.inventory).playbook(str(playbook), extra_vars=dict(role_vars, offline_install_summary=False))
    assert run.rc == 0, run
    assert run.total('changed') == 0, run.stats
    assert [task for task in run.tasks if task['action'] in STEP_ACTIONS] == []
    for name in ('A task of the play after the role', 'A post task'):
        assert sorted(run.results(name)) == sorted(fleet.names)


def test_a_gem_removed_after_the_ruby_probe_was_recorded_is_reinstalled_on_that_host_only(fleet, role_vars, converged):
    ansible = Ansible(inventory=fleet.inventory)
    time.sleep(1.1)  # no path the probe rests on changed within the second before it: its answer is recorded
    assert ansible.playbook(SITE, extra_vars=role_vars).total('changed') == 0
    for name in fleet.names:
        records = fleet.run(name, ['sh', '-c', 'ls %s/ruby/.ruby-probe-*.json' % STAGE])
        assert records.returncode == 0 and len(records.stdout.split()) == 1, (name, records)
    drifted, clean = fleet.names
    fleet.run(drifted, ['sh', '-c', 'rm -r %s/gems/airgap_chain_a-*' % GEM_HOME], check=True)

    repair = ansible.playbook(SITE, extra_vars=role_vars)
    assert repair.rc == 0, repair
    assert repair.results(STATE_TASK)[drifted]['ruby']['settled'] == []
    assert repair.stats[clean]['changed'] == 0 and repair.stats[drifted]['changed'] == 1
    assert [c['name'] for c in repair.results('Install the gems from the staged gem cache')[drifted]['changes']] == ['airgap_chain_a']
    required = fleet.run(drifted, ['env', 'GEM_HOME=' + GEM_HOME, 'GEM_PATH=' + GEM_HOME, 'ruby', '-e', 'require "airgap_chain_a"; puts :ok'])
    assert required.stdout.strip() == 'ok', required.stderr


def test_a_ship_cut_mid_transfer_is_never_used_and_the_next_run_converges(
        tmp_path, fleet, role_vars, python_index, converged):
    # A wheel big enough that the transfer is still running when it is cut.
    python_index.add(make_wheel(str(tmp_path), 'airgap-fixture-big', '1.0.0', payload=os.urandom(24 * 1024 * 1024)))
    venv = '/opt/role-test/big'
    extra = dict(role_vars, offline_install_python=[{'venv': venv, 'requirements': ['airgap-fixture-big']}],
                 offline_install_gems=[])
    host = fleet.host(fleet.names[0])
    limit = host.name
    # Slow the link so that the transfer is still running when the controller side is killed.
    subprocess.run(['tc', 'qdisc', 'add', 'dev', host.veth, 'root', 'tbf', 'rate', '40mbit', 'burst', '64kb',
                    'latency', '400ms'], check=True)
    try:
        env = ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'default'})
        argv = ['ansible-playbook', SITE, '-i', fleet.inventory, '--limit', limit, '-e', json.dumps(extra)]
        playbook = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            partial = fleet.run(host.name, ['find', '/root/.ansible/tmp', '-name', 'airgap-ship-*.tar', '-size', '+1k'])
            if partial.stdout.strip():
                break
            assert playbook.poll() is None, 'the playbook ended before its transfer could be cut'
            time.sleep(0.1)
        else:
            pytest.fail('no transfer seen on %s' % host.name)
        os.killpg(playbook.pid, signal.SIGKILL)
        playbook.wait()
    finally:
        subprocess.run(['tc', 'qdisc', 'del', 'dev', host.veth, 'root'], check=False)

    staged = fleet.run(host.name, ['ls', STAGE + '/python']).stdout.split()
    big = 'airgap_fixture_big-1.0.0-py3-none-any.whl'
    complete = [d for d in staged if fleet.run(host.name, ['test', '-e', '%s/python/%s/%s' % (STAGE, d, big)]).returncode == 0]
    assert complete == [], 'a partial cache was put in place: %s' % complete
    assert fleet.run(host.name, ['test', '-e', venv]).returncode != 0

    again = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=extra, limit=limit)
    assert again.rc == 0, again
    assert fleet.run(host.name, [venv + '/bin/python', '-c', 'import airgap_fixture_big']).returncode == 0
    assert Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=extra, limit=limit).total('changed') == 0


def test_build_playbook_then_install_playbook_carry_caches_across_an_air_gap(
        tmp_path, fleet, role_vars, python_index, gem_source, converged):
    carried = dict(role_vars, offline_install_cache_dir=str(tmp_path / 'carried'),
                   offline_install_python=[{'venv': '/opt/role-test/carried', 'requirements': ['airgap-fixture-base==0.9.0']}],
                   offline_install_gems=['airgap_chain_c'])
    ansible = Ansible(inventory=fleet.inventory)
    built = ansible.playbook(os.path.join(REPO, 'playbooks', 'build.yml'), extra_vars=carried)
    assert built.rc == 0, built
    assert [task['action'] for task in built.tasks if task['status'] == 'ok' and task['result'].get('changed')] != []
    assert not any(task['action'] in ('airgap.packages.ship_cache', 'airgap.packages.pip_offline')
                   for task in built.tasks), 'build.yml must not touch the hosts'
    assert fleet.run(fleet.names[0], ['test', '-e', '/opt/role-test/carried']).returncode != 0

    # The inner side of the gap reaches no index: stop both sources for the install.
    python_index.stop()
    gem_source.stop()
    try:
        installed = ansible.playbook(os.path.join(REPO, 'playbooks', 'install.yml'), extra_vars=carried)
        assert installed.rc == 0, installed
        again = ansible.playbook(os.path.join(REPO, 'playbooks', 'install.yml'), extra_vars=carried)
        assert again.total('changed') == 0, again.stats
        # Settled hosts: ship_cache answers from host_state's report without asking them, nothing is installed.
        shipped = ship_results(again)
        assert len(shipped) == 2 * len(fleet.names)
        assert all(result['settled'] and result['transferred_bytes'] == 0 for result in shipped), shipped
        installs = [task['status'] for task in again.tasks if task['action'] in STEP_ACTIONS[1:]]
        assert installs == ['skipped'] * (2 * len(fleet.names)), installs
    finally:
        python_index.start()
        gem_source.start()
    for name in fleet.names:
        version = fleet.run(name, ['/opt/role-test/carried/bin/python', '-c',
                                   'import importlib.metadata as m; print(m.version("airgap-fixture-base"))'])
        assert version.stdout.strip() == '0.9.0', version.stderr


def test_check_mode_before_any_cache_exists_reports_the_work_and_builds_nothing(tmp_path, fleet, role_vars, converged):
    fresh = dict(role_vars, offline_install_cache_dir=str(tmp_path / 'never-built'))
    run = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=fresh, check=True)
    assert run.rc == 0, run
    shipped = ship_results(run)
    assert shipped and all(result['shipped'] and result['transferred_bytes'] == 0 for result in shipped)
    assert not os.path.exists(str(tmp_path / 'never-built' / 'python'))


def test_installer_uv_adds_uv_to_the_cache_installs_with_it_and_leaves_it_out_of_the_venv(tmp_path, fleet, role_vars, converged):
    venv = '/opt/role-test/uv-venv'
    uv_vars = dict(role_vars, offline_install_python_installer='uv', offline_install_gems=[],
                   offline_install_cache_dir=str(tmp_path / 'caches'),
                   offline_install_python=[{'venv': venv, 'requirements': ['airgap-fixture-top==2.0.0']}])
    run = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=uv_vars)
    assert run.rc == 0, run
    installs = [item for task in run.tasks if task['action'] == 'airgap.packages.pip_offline' for item in task['result']['results']]
    assert len(installs) == len(fleet.names) and all(item['installer'] == 'uv' and item['changed'] for item in installs)
    for cache in glob.glob(str(tmp_path / 'caches' / 'python' / '*' / 'manifest.json')):
        with open(cache) as handle:
            assert 'uv' in [artifact['name'] for artifact in json.load(handle)['artifacts']]
    for name in fleet.names:
        found = fleet.run(name, [venv + '/bin/python', '-c', 'import importlib.util as u, airgap_fixture_top; print(u.find_spec("uv"))'])
        assert found.stdout.strip() == 'None', found.stderr
    again = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=uv_vars)
    assert again.rc == 0 and again.total('changed') == 0, again
