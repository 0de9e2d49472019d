# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of the role serves offline hosts of three Debian releases (Python 3.9/3.11/3.13, Ruby 2.7/3.1/3.3).

The hosts of bullseye and trixie run on debootstrap roots cached by tests/harness/rootfs.py (built
on first use from the machine's Debian mirror); bookworm is the machine's own root. Python packages
come from the real PyPI, gems from the local fixture source.

    .venv/bin/python -m pytest -m mixed_fleet tests/integration -q
"""

import json
import os
import time

import pytest

from hosts import HostFleet
from rootfs import debian_root
from runner import REPO, Ansible

pytestmark = [pytest.mark.integration, pytest.mark.mixed_fleet, pytest.mark.pypi]

SITE = os.path.join(REPO, 'playbooks', 'site.yml')
VENV = '/opt/mixed/venv'
GEM_HOME = '/opt/mixed/gems'
STAGE = '/var/cache/airgap-mixed-test'
# Each pin has manylinux x86_64 wheels for cp39, cp311 and cp313 (cryptography: one cp39-abi3 wheel).
REQUIREMENTS = ['PyYAML==6.0.2', 'MarkupSafe==3.0.2', 'cryptography==44.0.3']
# PyYAML 6.0.1 predates Python 3.13: wheels up to cp312, an sdist otherwise.
NO_CP313_WHEEL = 'PyYAML==6.0.1'
# What each release brings (Debian's packages); the hosts must report exactly these.
RELEASES = {
    'bullseye': {'python': '3.9', 'abi': 'cp39', 'ruby': '2.7', 'glibc': '2.31'},
    'bookworm': {'python': '3.11', 'abi': 'cp311', 'ruby': '3.1', 'glibc': '2.36'},
    'trixie': {'python': '3.13', 'abi': 'cp313', 'ruby': '3.3', 'glibc': '2.41'},
}
BUILD_TASK = 'Build one wheel cache per Python environment key'
NO_BUILDER_TASK = 'Fail naming the hosts of each key without a wheel and the variable that names its builder'
PROBE = ('import sys, yaml, markupsafe, cryptography\n'
         'from cryptography.fernet import Fernet\n'
         'token = Fernet(Fernet.generate_key())\n'
         'assert token.decrypt(token.encrypt(b"x")) == b"x"\n'
         'assert yaml.__with_libyaml__ and yaml.load("a: 1", Loader=yaml.CSafeLoader) == {"a": 1}\n'
         'from markupsafe import _speedups\n'
         'print(*sys.version_info[:2], cryptography.__version__, yaml.__version__, markupsafe.__version__)\n')
GEM_PROBE = ('require "airgap_chain_a"; require "airgap_native"; require "airgap_twover"; '
             'puts [RUBY_VERSION, AirgapTwover::VERSION].join(" ")')
# Wall time of each playbook run, printed at the end of the module (pytest -s or -rA shows it).
TIMINGS = {}


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    """One offline host per release, all in one inventory; the release name is the host name's prefix."""
    roots = dict((suite, debian_root(suite)) for suite in RELEASES)
    hosts = HostFleet(str(tmp_path_factory.mktemp('mixed-hosts')))
    try:
        for suite, root in roots.items():
            hosts.start(1, lower=root, name_prefix=suite)
        yield hosts
    finally:
        hosts.stop()


@pytest.fixture(scope='module')
def role_vars(tmp_path_factory, gem_source):
    return {
        'offline_install_python': [{'venv': VENV, 'requirements': REQUIREMENTS}],
        'offline_install_gems': ['airgap_chain_a', 'airgap_native', {'name': 'airgap_twover', 'version': '1.0.0'}],
        'offline_install_gem_sources': [gem_source.url],
        'offline_install_cache_dir': str(tmp_path_factory.mktemp('mixed-caches')),
        'offline_install_stage_dir': STAGE,
        'offline_install_gem_install_dir': GEM_HOME,
    }


def timed_playbook(fleet, label, extra_vars):
    started = time.time()
    run = Ansible(inventory=fleet.inventory).playbook(SITE, extra_vars=extra_vars)
    TIMINGS[label] = time.time() - started
    return run


@pytest.fixture(scope='module', autouse=True)
def report_timings():
    yield
    if TIMINGS:
        print('\nmixed fleet playbook runs: ' + ', '.join('%s %.1f s' % item for item in TIMINGS.items()))


@pytest.fixture(scope='module')
def converged(fleet, role_vars):
    run = timed_playbook(fleet, 'first run', role_vars)
    assert run.rc == 0, run
    return run


def platforms(run):
    """host -> airgap_platform facts as gathered in that run."""
    return dict((task['host'], task['result']['ansible_facts']['airgap_platform']) for task in run.tasks
                if task['action'] == 'airgap.packages.host_state' and task['status'] == 'ok')


def python_manifest(role_vars, key):
    with open(os.path.join(role_vars['offline_install_cache_dir'], 'python', key, 'manifest.json')) as handle:
        return json.load(handle)


def test_hosts_run_three_releases_offline(fleet):
    for suite, release in RELEASES.items():
        name = fleet.named(suite)
        versions = fleet.run(name, ['sh', '-c', 'python3 -c "import platform; print(platform.python_version())"; '
                                    'ruby -e "puts RUBY_VERSION"; getconf GNU_LIBC_VERSION'])
        python, ruby, glibc = versions.stdout.split('\n')[:3]
        assert python.startswith(release['python'] + '.') and ruby.startswith(release['ruby'] + '.'), versions
        assert glibc == 'glibc ' + release['glibc']
        # pypi.org's address: no name lookup, no route.
        connect = 'import socket; socket.create_connection(("151.101.0.223", 443), 3)'
        offline = fleet.run(name, ['python3', '-c', connect])
        assert offline.returncode != 0 and 'unreachable' in offline.stderr, offline


def test_platform_facts_give_one_environment_key_per_release(fleet, converged):
    facts = platforms(converged)
    assert sorted(facts) == sorted(fleet.names)
    by_suite = dict((suite, facts[fleet.named(suite)]) for suite in RELEASES)
    assert len(set(platform['python']['key'] for platform in by_suite.values())) == 3
    assert len(set(platform['ruby']['key'] for platform in by_suite.values())) == 3
    for suite, platform in by_suite.items():
        assert platform['python']['abi'] == RELEASES[suite]['abi']
        assert platform['python']['libc'] == {'flavor': 'glibc', 'version': RELEASES[suite]['glibc']}


def test_controller_builds_one_python_cache_per_key_with_the_compiled_wheels_of_that_target(
        fleet, role_vars, converged):
    builds = converged.results(BUILD_TASK)
    assert len(builds) == 1, 'the caches are built once, on the controller'
    facts = platforms(converged)
    for suite, release in RELEASES.items():
        python = facts[fleet.named(suite)]['python']
        manifest = python_manifest(role_vars, python['key'])
        wheels = dict((artifact['name'], artifact) for artifact in manifest['artifacts'])
        for name in ('pyyaml', 'markupsafe', 'cffi'):
            assert wheels[name]['platform'].startswith('%s-%s-' % (release['abi'], release['abi'])), wheels[name]
            assert wheels[name]['native'], wheels[name]
        assert wheels['cryptography']['platform'].split('-')[1] == 'abi3'
        for artifact in manifest['artifacts']:
            tags = ['-'.join((python_tag, abi, plat)) for python_tag in artifact['platform'].split('-')[0].split('.')
                    for abi in artifact['platform'].split('-')[1].split('.')
                    for plat in artifact['platform'].split('-')[2].split('.')]
            assert set(tags) & set(python['tags']), '%s does not fit %s' % (artifact['filename'], suite)


def test_every_host_imports_its_compiled_packages_and_requires_its_gems(fleet, converged):
    for suite, release in RELEASES.items():
        name = fleet.named(suite)
        imported = fleet.run(name, [VENV + '/bin/python', '-c', PROBE])
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.split() == release['python'].split('.') + ['44.0.3', '6.0.2', '3.0.2']
        required = fleet.run(name, ['env', 'GEM_HOME=' + GEM_HOME, 'GEM_PATH=' + GEM_HOME, 'ruby', '-e', GEM_PROBE])
        assert required.returncode == 0, required.stderr
        ruby, twover = required.stdout.split()
        assert ruby.startswith(release['ruby'] + '.') and twover == '1.0.0'


def test_second_run_over_the_fleet_changes_nothing(fleet, role_vars, converged):
    run = timed_playbook(fleet, 'second run', role_vars)
    assert run.rc == 0, run
    assert run.total('changed') == 0, run.stats
    assert sorted(run.stats) == sorted(fleet.names)
    # Every host is settled on the caches the first run shipped it: nothing is shipped or installed.
    shipped = converged.results("Ship the wheel cache of this host's Python key")
    settled = dict((task['host'], task['result']['python']['settled']) for task in run.tasks
                   if task['action'] == 'airgap.packages.host_state')
    assert settled == dict((name, [shipped[name]['digest']]) for name in fleet.names)
    assert not [task for task in run.tasks if task['action'] in (
        'airgap.packages.ship_cache', 'airgap.packages.pip_offline', 'airgap.packages.gem_offline')]


def test_a_package_without_a_wheel_for_one_platform_fails_the_build_before_anything_is_shipped(
        fleet, role_vars, converged, tmp_path):
    stage = STAGE + '-nowheel'
    extra = dict(role_vars, offline_install_cache_dir=str(tmp_path / 'caches'), offline_install_stage_dir=stage,
                 offline_install_python=[{'venv': '/opt/mixed/nowheel', 'requirements': [NO_CP313_WHEEL]}])
    run = timed_playbook(fleet, 'build without a cp313 wheel', extra)
    assert run.rc != 0, run
    failed = [task for task in run.tasks if task['result'].get('failed')]
    assert [task['task'] for task in failed] == [BUILD_TASK, NO_BUILDER_TASK], failed
    assert failed[0]['result']['_ansible_delegated_vars']['ansible_host'] == 'localhost', 'not built on the controller'
    message = failed[1]['result']['msg']
    keys = dict((suite, platforms(converged)[fleet.named(suite)]['python']['key']) for suite in RELEASES)
    assert 'pyyaml 6.0.1' in message.lower() and keys['trixie'] in message, message
    assert keys['bullseye'] not in message and keys['bookworm'] not in message, message
    # The hosts of that key, and the variable that would give it a builder.
    assert '%s: %s;' % (keys['trixie'], fleet.named('trixie')) in message, message
    assert 'offline_install_builders' in message, message
    built = list((tmp_path / 'caches').rglob('manifest.json'))
    assert built == [], 'a cache was written although the build failed: %s' % built
    assert not [task for task in run.tasks if task['action'] == 'airgap.packages.ship_cache'
                and not task['result'].get('skipped')]
    for name in fleet.names:
        assert fleet.run(name, ['test', '-e', stage]).returncode != 0, 'something reached %s' % name


def test_a_wheel_cache_of_another_key_is_refused_by_pip_offline_naming_files_and_host_tags(
        fleet, role_vars, converged):
    facts = platforms(converged)
    bookworm_key = facts[fleet.named('bookworm')]['python']['key']
    bullseye = fleet.named('bullseye')
    ansible = Ansible(inventory=fleet.inventory)
    shipped = ansible.module(bullseye, 'airgap.packages.ship_cache', {
        'src': os.path.join(role_vars['offline_install_cache_dir'], 'python', bookworm_key),
        'dest': STAGE + '-wrong'})[bullseye]
    assert not shipped.get('failed'), shipped
    venv = '/opt/mixed/wrong-venv'
    refused = ansible.module(bullseye, 'airgap.packages.pip_offline', {
        'cache': shipped['path'], 'virtualenv': venv, 'packages': ['pyyaml', 'markupsafe', 'cryptography']})[bullseye]
    assert refused.get('failed'), refused
    message = json.dumps(refused)
    assert 'PyYAML-6.0.2-cp311-cp311-' in message and 'MarkupSafe-3.0.2-cp311-cp311-' in message, refused['msg']
    # cryptography's cp39-abi3 wheel fits Python 3.9, but its manylinux_2_34 needs a newer glibc than 2.31.
    assert 'cryptography-44.0.3-cp39-abi3-manylinux_2_34_x86_64.whl' in message, refused['msg']
    assert 'cp39-cp39-manylinux_2_31_x86_64' in refused['msg'], refused['msg']
    assert fleet.run(bullseye, ['test', '-e', venv]).returncode != 0, 'a virtualenv was created from a refused cache'
