# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every key gets every package: wheels that only an sdist provides are built on an offline builder of each key.

One offline host per Debian release (Python 3.9, 3.11, 3.13), each also the builder of its release's key,
named through an inventory group (offline_install_builders). The requirements:
- netifaces 0.11.0 from the real PyPI: a C extension with wheels up to cp39 and an sdist;
- airgap-fixture-scmnative 1.4.0 from a local index: an sdist only, with a C extension, whose
  build-system.requires is setuptools and setuptools_scm (with tomli and typing_extensions on 3.9);
- six, an ordinary wheel.

    .venv/bin/python -m pytest -m mixed_fleet tests/integration/test_builders.py -q
"""

import json
import os

import pytest

from hosts import HostFleet
from rootfs import debian_root
from runner import REPO, Ansible
from sources import FIXTURES, PythonIndex

pytestmark = [pytest.mark.integration, pytest.mark.mixed_fleet, pytest.mark.pypi]

SITE = os.path.join(REPO, 'playbooks', 'site.yml')
VENV = '/opt/builders/venv'
STAGE = '/var/cache/airgap-builders-test'
SUITES = ('bullseye', 'bookworm', 'trixie')
REQUIREMENTS = ['netifaces==0.11.0', 'airgap-fixture-scmnative==1.4.0', 'six==1.17.0']
PROBE = ('import sys, netifaces, six, airgap_fixture_scmnative as m\n'
         'assert "lo" in netifaces.interfaces()\n'
         'print("%d.%d" % sys.version_info[:2], m.add(2, 3), m.__version__, six.__version__)\n')
PYTHONS = {'bullseye': '3.9', 'bookworm': '3.11', 'trixie': '3.13'}
BUILD_TASK = 'Build the wheels of each key on its builder, with no index'
# Where the compiler of Debian's python3 (sysconfig CC, x86_64-linux-gnu-gcc) and its other names live.
COMPILERS = ('/usr/bin/x86_64-linux-gnu-gcc', '/usr/bin/x86_64-linux-gnu-gcc-12', '/usr/bin/gcc', '/usr/bin/gcc-12',
             '/usr/bin/cc')


@pytest.fixture(scope='module')
def fixture_index(tmp_path_factory):
    index = PythonIndex(str(tmp_path_factory.mktemp('builds-index')), fixtures=os.path.join(FIXTURES, 'python-builds'))
    index.build().start()
    yield index
    index.stop()


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    """One offline host per release, and a bookworm host without a compiler; an inventory group per release."""
    hosts = HostFleet(str(tmp_path_factory.mktemp('builder-hosts')))
    try:
        for suite in SUITES:
            hosts.start(1, lower=debian_root(suite), name_prefix=suite)
        hosts.start(1, lower=debian_root('bookworm'), name_prefix='nocompiler', hide=COMPILERS)
        hosts.grouped = hosts.grouped_inventory(SUITES + ('nocompiler',))
        yield hosts
    finally:
        hosts.stop()


@pytest.fixture(scope='module')
def role_vars(fleet, fixture_index, tmp_path_factory):
    return {
        'airgap_targets': ':'.join(SUITES),
        'offline_install_python': [{'venv': VENV, 'requirements': REQUIREMENTS}],
        'offline_install_extra_index_urls': [fixture_index.url],
        'offline_install_builders': dict((suite, fleet.named(suite)) for suite in SUITES),
        'offline_install_cache_dir': str(tmp_path_factory.mktemp('builder-caches')),
        'offline_install_stage_dir': STAGE,
    }


def playbook(fleet, extra_vars):
    return Ansible(inventory=fleet.grouped).playbook(SITE, extra_vars=extra_vars)


@pytest.fixture(scope='module')
def converged(fleet, role_vars):
    run = playbook(fleet, role_vars)
    assert run.rc == 0, run
    return run


def keys(run):
    return dict((task['host'], task['result']['ansible_facts']['airgap_platform']['python']['key']) for task in run.tasks
                if task['action'] == 'airgap.packages.host_state' and task['status'] == 'ok')


def build_items(run):
    """The per-key results of the build on the builders (a run_once loop: one host's results)."""
    results = list(run.results(BUILD_TASK).values())
    assert len(results) == 1, results
    return results[0].get('results', [])


def manifest_of(role_vars, key):
    with open(os.path.join(role_vars['offline_install_cache_dir'], 'python', key, 'manifest.json')) as handle:
        return dict((artifact['name'], artifact) for artifact in json.load(handle)['artifacts'])


def test_one_run_installs_the_sdist_only_packages_on_every_release(fleet, converged):
    for suite in SUITES:
        imported = fleet.run(fleet.named(suite), [VENV + '/bin/python', '-c', PROBE])
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.split() == [PYTHONS[suite], '5', '1.4.0', '1.17.0']


def test_each_key_builds_on_its_own_builder_and_the_manifest_records_where(fleet, role_vars, converged):
    built = dict((item['key'], item) for item in build_items(converged))
    host_keys = keys(converged)
    for suite in SUITES:
        host = fleet.named(suite)
        artifacts = manifest_of(role_vars, host_keys[host])
        native = artifacts['airgap-fixture-scmnative']
        assert native['built'] and native['native'], native
        provenance = native['built_from']
        assert provenance['host'] == host and provenance['key'] == host_keys[host], provenance
        assert provenance['python'].startswith(PYTHONS[suite] + '.') and provenance['glibc'], provenance
        assert provenance['compiler'].startswith(('gcc', 'x86_64-linux-gnu-gcc', 'cc')), provenance
        assert provenance['sdist'] == 'airgap-fixture-scmnative-1.4.0.tar.gz', provenance
        assert len(provenance['sdist_sha256']) == 64
        assert native['filename'].startswith('airgap_fixture_scmnative-1.4.0-cp%s-' % PYTHONS[suite].replace('.', ''))
        netifaces = artifacts['netifaces']
        if suite == 'bullseye':
            # PyPI publishes a cp39 manylinux wheel: nothing to build for this key.
            assert not netifaces['built'] and 'built_from' not in netifaces, netifaces
            assert netifaces['filename'].endswith('manylinux1_x86_64.whl')
        else:
            assert netifaces['built_from']['host'] == host, netifaces
        assert not artifacts['six']['built'] and 'built_from' not in artifacts['six']
        # Built there: the wheel is on that builder, where its build record points.
        wheels = dict((wheel['filename'], wheel) for wheel in built[host_keys[host]]['wheels'])
        assert fleet.run(host, ['test', '-f', wheels[native['filename']]['path']]).returncode == 0


def test_the_second_run_builds_nothing_ships_nothing_and_changes_nothing(fleet, role_vars, converged):
    run = playbook(fleet, role_vars)
    assert run.rc == 0, run
    assert run.total('changed') == 0, run.stats
    ran = [task for task in run.tasks if task['action'] in (
        'airgap.packages.ship_cache', 'ansible.builtin.fetch', 'airgap.packages.pip_offline')
        or task['task'] == BUILD_TASK]
    assert not [task for task in ran if task['status'] != 'skipped'], ran


def test_an_altered_built_wheel_on_the_controller_is_refused_on_a_target(fleet, role_vars, converged):
    host = fleet.named('trixie')
    key = keys(converged)[host]
    cache = os.path.join(role_vars['offline_install_cache_dir'], 'python', key)
    wheel = os.path.join(cache, manifest_of(role_vars, key)['airgap-fixture-scmnative']['filename'])
    with open(wheel, 'r+b') as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    ansible = Ansible(inventory=fleet.grouped)
    shipped = ansible.module(host, 'airgap.packages.ship_cache', {'src': cache, 'dest': STAGE + '-altered'})[host]
    assert shipped.get('failed'), shipped
    assert os.path.basename(wheel) in shipped['msg'], shipped['msg']
    assert fleet.run(host, ['test', '-e', STAGE + '-altered/' + str(shipped.get('digest'))]).returncode != 0
    # The role repairs the cache: the builder still holds its intact wheel and hands it over again.
    run = playbook(fleet, role_vars)
    assert run.rc == 0, run
    assert [(item['key'], item['changed']) for item in build_items(run)] == [(key, False)], run
    with open(wheel, 'rb') as handle:
        handle.seek(100)
        assert handle.read(1) == byte


def test_a_builder_without_a_compiler_fails_at_the_preflight_and_nothing_is_installed(fleet, role_vars, tmp_path):
    target = fleet.named('bookworm')
    builder = fleet.named('nocompiler')
    venv = '/opt/builders/nocompiler-venv'
    extra = dict(role_vars, airgap_targets=target, offline_install_builders={'bookworm': builder},
                 offline_install_cache_dir=str(tmp_path / 'caches'), offline_install_stage_dir=STAGE + '-nocc',
                 offline_install_python=[{'venv': venv, 'requirements': REQUIREMENTS}])
    run = playbook(fleet, extra)
    assert run.rc != 0, run
    failed = [task for task in run.tasks if task['result'].get('failed')]
    assert [task['task'] for task in failed] == [BUILD_TASK], failed
    message = json.dumps(failed[0]['result'])
    assert 'airgap-fixture-scmnative' in message and 'netifaces' in message, message
    assert 'x86_64-linux-gnu-gcc' in message and 'build-essential' in message, message
    for name in (target, builder):
        assert fleet.run(name, ['test', '-e', venv]).returncode != 0, 'something was installed on %s' % name
    assert fleet.run(target, ['test', '-e', STAGE + '-nocc/python']).returncode != 0, 'a cache reached the target'


def test_check_mode_reports_the_builds_and_builds_nothing(fleet, role_vars, tmp_path):
    stage = STAGE + '-check'
    extra = dict(role_vars, offline_install_cache_dir=str(tmp_path / 'caches'), offline_install_stage_dir=stage)
    run = Ansible(inventory=fleet.grouped).playbook(SITE, extra_vars=extra, check=True)
    assert run.rc == 0, run
    assert run.total('changed') > 0, run.stats
    [planned] = run.results('Build one wheel cache per Python environment key').values()
    assert sorted(build['key'] for build in planned['builds']) == sorted(set(keys(run).values()))
    assert all(build['digest'] is None for build in planned['builds']), planned['builds']
    assert not [task for task in run.tasks if task['task'] == BUILD_TASK and task['status'] != 'skipped']
    assert not list((tmp_path / 'caches').rglob('manifest.json'))
    for suite in SUITES:
        assert fleet.run(fleet.named(suite), ['test', '-e', stage]).returncode != 0, 'check mode wrote on %s' % suite
