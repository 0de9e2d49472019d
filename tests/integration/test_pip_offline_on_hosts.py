# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pip_offline on offline hosts: every promise of the module, one test each.

Caches are built on the controller from the fixture index (plus pip and uv wheels as installer
tools), shipped to the hosts as one tar stream each, then installed by the real module through
the ansible CLI.
"""

import glob
import hashlib
import json
import os
import threading

import pytest

from hosts import HostFleet
from pip_offline_support import build_cache, installer_wheels
from sources import make_wheel
from runner import REPO, Ansible
from sources import PythonIndex

pytestmark = pytest.mark.integration

MODULE = 'airgap.packages.pip_offline'
REMOTE = '/srv/pipoff'
TOP, MID, BASE = 'airgap-fixture-top', 'airgap-fixture-mid', 'airgap-fixture-base'
CLOSURE = {TOP: '2.0.0', MID: '1.2.0', BASE: '1.0.0'}
# What a minimal Debian image lacks: ensurepip (python3-venv), pip (python3-pip); and, harder still, venv itself.
NO_PIP = ['/usr/lib/python3.11/ensurepip', '/usr/lib/python3/dist-packages/pip',
          '/usr/lib/python3/dist-packages/pip-23.0.1.dist-info']
NO_VENV = NO_PIP + ['/usr/lib/python3.11/venv']


# ---------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope='module')
def tools():
    return installer_wheels()


@pytest.fixture(scope='module')
def caches(tmp_path_factory, python_index, tools):
    """Local caches: 'pip' (top + pip wheel), 'uv' (top and mid + pip and uv wheels), 'extra' (loose wheels)."""
    root = tmp_path_factory.mktemp('pip-offline-caches')
    built = {
        'pip': build_cache(str(root / 'pip'), [TOP], index_url=python_index.url, tools=[tools['pip']]),
        'uv': build_cache(str(root / 'uv'), [TOP, MID], index_url=python_index.url, tools=[tools['pip'], tools['uv']]),
    }
    extra = root / 'extra'
    extra.mkdir()
    base_old = [f for f in os.listdir(python_index.files_dir) if f.startswith('airgap_fixture_base-0.9.0')][0]
    with open(os.path.join(python_index.files_dir, base_old), 'rb') as source:
        (extra / base_old).write_bytes(source.read())
    make_wheel(str(extra), 'stray', '0.1')
    make_wheel(str(extra), 'needs-missing', '1.0', requires=['airgap-fixture-nowhere'])
    return {'root': str(root), 'manifests': built, 'base_old': base_old}


@pytest.fixture(scope='module')
def host(offline_hosts, caches):
    """The first offline host, with the caches shipped under REMOTE/caches."""
    name = offline_hosts.names[0]
    for which in ('pip', 'uv', 'extra'):
        offline_hosts.push_dir(name, os.path.join(caches['root'], which), '%s/caches/%s' % (REMOTE, which))
    return name


def cache_path(which):
    return '%s/caches/%s' % (REMOTE, which)


def venv_path(request):
    return '%s/venvs/%s' % (REMOTE, request.node.name)


def run_module(fleet_ansible, host, check=False, diff=False, **args):
    return fleet_ansible.module(host, MODULE, args, check=check, diff=diff)[host]


def sh(fleet, host, *argv):
    done = fleet.run(host, list(argv))
    assert done.returncode == 0, '%s failed on %s: %s %s' % (argv, host, done.stdout, done.stderr)
    return done.stdout


def installed(fleet, host, python):
    """{name: version} as the interpreter's importlib.metadata sees it (independent of the module's probe)."""
    code = ('import importlib.metadata as m, json, re; print(json.dumps(dict('
            '(re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(), d.version) for d in m.distributions())))')
    return json.loads(sh(fleet, host, python, '-I', '-c', code))


def exists(fleet, host, path):
    return fleet.run(host, ['test', '-e', path]).returncode == 0


def work_copy(fleet, host, request, which='pip'):
    """A private copy of a shipped cache on the host, for tests that damage it."""
    path = '%s/work/%s/cache' % (REMOTE, request.node.name)
    sh(fleet, host, 'rm', '-rf', os.path.dirname(path))
    sh(fleet, host, 'mkdir', '-p', os.path.dirname(path))
    sh(fleet, host, 'cp', '-a', cache_path(which), path)
    return path


def wheel_of(manifest, name):
    return [a for a in manifest.artifacts if a.name == name][0]


def host_python_edit(fleet, host, code, *args):
    sh(fleet, host, 'python3', '-c', code, *args)


# ---------------------------------------------------------------- truthful idempotency

def test_cold_install_then_converged_run_reports_no_change_without_running_pip(
        offline_hosts, fleet_ansible, host, request, caches):
    venv = venv_path(request)
    first = run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv)
    assert first.get('failed') is not True, first
    assert first['changed'] is True and first['virtualenv_created'] is True
    assert dict((c['name'], (c['action'], c['after'])) for c in first['changes']) == {
        TOP: ('install', '2.0.0'), MID: ('install', '1.2.0'), BASE: ('install', '1.0.0'),
        'pip': ('install', wheel_of(caches['manifests']['pip'], 'pip').version)}
    after = installed(offline_hosts, host, venv + '/bin/python')
    assert dict((n, after[n]) for n in CLOSURE) == CLOSURE
    # pip can no longer run in the virtualenv: a converged run must not need it.
    site = first['site_packages']
    sh(offline_hosts, host, 'mv', site + '/pip', site + '/pip.hidden')
    try:
        second = run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv)
    finally:
        sh(offline_hosts, host, 'mv', site + '/pip.hidden', site + '/pip')
    assert second.get('failed') is not True, second
    assert second['changed'] is False and second['changes'] == [] and second['installer'] is None
    assert second['verified'] == []


def test_check_mode_returns_the_exact_plan_and_changes_nothing(offline_hosts, fleet_ansible, host, request):
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, check=True, diff=True, cache=cache_path('pip'), virtualenv=venv)
    assert result['changed'] is True and result['virtualenv_created'] is True
    planned = dict((c['name'], (c['action'], c['before'], c['after'])) for c in result['changes'])
    assert dict((n, planned[n]) for n in CLOSURE) == dict((n, ('install', None, v)) for n, v in CLOSURE.items())
    assert not exists(offline_hosts, host, venv)
    real = run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv)
    assert real['changes'] == result['changes']


def test_drifted_environment_is_repaired_touching_only_the_drifted_packages(offline_hosts, fleet_ansible, host, request,
                                                                            caches):
    venv = venv_path(request)
    python = venv + '/bin/python'
    assert run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv)['changed'] is True
    # By hand: remove mid, put an older base in place of the pinned one.
    sh(offline_hosts, host, python, '-m', 'pip', 'uninstall', '-y', '-q', MID)
    sh(offline_hosts, host, python, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps',
       '%s/%s' % (cache_path('extra'), caches['base_old']))
    top_metadata = '%s/lib/python3.11/site-packages/airgap_fixture_top-2.0.0.dist-info/METADATA' % venv
    stamp = sh(offline_hosts, host, 'stat', '-c', '%i %Y', top_metadata)

    checked = run_module(fleet_ansible, host, check=True, diff=True, cache=cache_path('pip'), virtualenv=venv)
    expected = [{'name': BASE, 'action': 'upgrade', 'before': '0.9.0', 'after': '1.0.0'},
                {'name': MID, 'action': 'install', 'before': None, 'after': '1.2.0'}]
    assert checked['changes'] == expected
    assert checked['diff'] == {'before': '%s 0.9.0\n' % BASE, 'after': '%s 1.0.0\n%s 1.2.0\n' % (BASE, MID)}
    assert installed(offline_hosts, host, python)[BASE] == '0.9.0'

    repaired = run_module(fleet_ansible, host, diff=True, cache=cache_path('pip'), virtualenv=venv)
    assert repaired['changed'] is True and repaired['changes'] == expected
    assert repaired['verified'] == sorted(wheel_of(caches['manifests']['pip'], n).filename for n in (BASE, MID))
    assert sh(offline_hosts, host, 'stat', '-c', '%i %Y', top_metadata) == stamp  # top was not reinstalled
    assert dict((n, installed(offline_hosts, host, python)[n]) for n in CLOSURE) == CLOSURE
    assert run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv)['changed'] is False


def test_result_names_what_was_done_the_interpreter_and_the_manifest_digest(fleet_ansible, host, request, caches):
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=cache_path('uv'), virtualenv=venv, packages=[MID])
    assert result['interpreter'] == venv + '/bin/python'
    assert result['python_version'] == '3.11.2'
    assert result['manifest_digest'] == caches['manifests']['uv'].digest
    assert {'name': MID, 'action': 'install', 'before': None, 'after': '1.2.0'} in result['changes']
    assert TOP not in [c['name'] for c in result['changes']]


# ---------------------------------------------------------------- verify first

def _assert_nothing_installed(fleet, host, result, venv):
    assert result.get('failed') is True, result
    assert not exists(fleet, host, venv), 'a virtualenv was created although verification failed'
    lock = os.path.join(os.path.dirname(venv), '.%s.airgap-lock' % os.path.basename(venv))
    assert not exists(fleet, host, lock), 'the lock beside the virtualenv was made before verification'


def test_flipped_byte_stops_the_task_naming_file_and_both_sha256(offline_hosts, fleet_ansible, host, request, caches):
    cache = work_copy(offline_hosts, host, request)
    artifact = wheel_of(caches['manifests']['pip'], MID)
    with open(os.path.join(caches['root'], 'pip', artifact.filename), 'rb') as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0x01
    host_python_edit(offline_hosts, host, 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); '
                     'b[len(b)//2]^=1; open(p,"wb").write(b)', '%s/%s' % (cache, artifact.filename))
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv)
    _assert_nothing_installed(offline_hosts, host, result, venv)
    assert artifact.filename in result['msg']
    assert artifact.sha256 in result['msg'] and hashlib.sha256(bytes(data)).hexdigest() in result['msg']


def test_truncated_file_stops_the_task_naming_expected_and_actual_size(offline_hosts, fleet_ansible, host, request, caches):
    cache = work_copy(offline_hosts, host, request)
    artifact = wheel_of(caches['manifests']['pip'], BASE)
    sh(offline_hosts, host, 'truncate', '-s', '100', '%s/%s' % (cache, artifact.filename))
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv)
    _assert_nothing_installed(offline_hosts, host, result, venv)
    assert '%s: size 100, expected %d' % (artifact.filename, artifact.size) in result['msg']


def test_missing_dependency_stops_the_task(offline_hosts, fleet_ansible, host, request, caches):
    cache = work_copy(offline_hosts, host, request)
    artifact = wheel_of(caches['manifests']['pip'], BASE)
    sh(offline_hosts, host, 'rm', '%s/%s' % (cache, artifact.filename))
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv)
    _assert_nothing_installed(offline_hosts, host, result, venv)
    assert '%s: missing' % artifact.filename in result['msg'] and artifact.sha256 in result['msg']


def test_wheel_for_another_platform_stops_the_task_naming_its_tags(offline_hosts, fleet_ansible, host, request, caches):
    cache = work_copy(offline_hosts, host, request)
    artifact = wheel_of(caches['manifests']['pip'], BASE)
    foreign = artifact.filename.replace('py3-none-any', 'cp311-cp311-musllinux_1_2_aarch64')
    host_python_edit(offline_hosts, host, (
        'import json, os, sys; cache, old, new = sys.argv[1:]; os.rename(os.path.join(cache, old), os.path.join(cache, new)); '
        'p = os.path.join(cache, "manifest.json"); m = json.load(open(p)); '
        '[a.update(filename=new, platform="cp311-cp311-musllinux_1_2_aarch64") for a in m["artifacts"] if a["filename"] == old]; '
        'json.dump(m, open(p, "w"))'), cache, artifact.filename, foreign)
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv)
    _assert_nothing_installed(offline_hosts, host, result, venv)
    assert foreign in result['msg'] and 'cp311-cp311-musllinux_1_2_aarch64' in result['msg']
    assert 'manylinux' in result['msg']  # what this interpreter would take instead


def test_files_the_manifest_does_not_list_are_never_installed(offline_hosts, fleet_ansible, host, request, caches):
    cache = work_copy(offline_hosts, host, request)
    # A newer-looking base and a stray wheel beside the listed ones: plain `pip --find-links` would take 9.9.9.
    sh(offline_hosts, host, 'cp', '%s/%s' % (cache_path('extra'), caches['base_old']),
       '%s/airgap_fixture_base-9.9.9-py3-none-any.whl' % cache)
    sh(offline_hosts, host, 'cp', '%s/stray-0.1-py3-none-any.whl' % cache_path('extra'), cache)
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv)
    assert result.get('failed') is not True, result
    have = installed(offline_hosts, host, venv + '/bin/python')
    assert have[BASE] == '1.0.0' and 'stray' not in have


# ---------------------------------------------------------------- strictly offline

HOSTILE_PIP_CONF = '[global]\nindex-url = http://10.250.0.1:9/simple\n[install]\ntarget = /tmp/pip-target\nconstraint = /tmp/hostile/c.txt\n'


@pytest.mark.parametrize('installer', ['pip', 'uv'])
def test_pip_and_uv_variables_and_configuration_files_have_no_effect(offline_hosts, fleet_ansible, host, request, installer,
                                                                     tmp_path):
    sh(offline_hosts, host, 'mkdir', '-p', '/tmp/hostile', '/root/.config/pip', '/root/.config/uv')
    host_python_edit(offline_hosts, host, 'import sys; open(sys.argv[1], "w").write(sys.argv[2])',
                     '/tmp/hostile/c.txt', '%s==0.9.0\n' % BASE)
    for conf in ('/etc/pip.conf', '/root/.config/pip/pip.conf'):
        host_python_edit(offline_hosts, host, 'import sys; open(sys.argv[1], "w").write(sys.argv[2])', conf, HOSTILE_PIP_CONF)
    host_python_edit(offline_hosts, host, 'import sys; open(sys.argv[1], "w").write(sys.argv[2])',
                     '/root/.config/uv/uv.toml', 'index-url = "http://10.250.0.1:9/simple"\nconstraint-dependencies = ["%s==0.9.0"]\n'
                     % BASE)
    venv = venv_path(request)
    playbook = tmp_path / 'hostile.yml'
    hostile_env = {
        'PIP_TARGET': '/tmp/pip-target', 'PIP_CONSTRAINT': '/tmp/hostile/c.txt', 'PIP_INDEX_URL': 'http://10.250.0.1:9/simple',
        'PIP_FIND_LINKS': '/tmp/hostile', 'PIP_NO_COMPILE': '1', 'PIP_USER': '1',
        'UV_CONSTRAINT': '/tmp/hostile/c.txt', 'UV_INDEX_URL': 'http://10.250.0.1:9/simple', 'UV_SYSTEM_PYTHON': '1',
        'PYTHONPATH': '/tmp/hostile', 'PYTHONUSERBASE': '/tmp/hostile/user'}
    playbook.write_text(json.dumps([{
        'hosts': host, 'gather_facts': False, 'environment': hostile_env,
        'tasks': [{'name': 'install', MODULE: {'cache': cache_path('uv'), 'virtualenv': venv, 'installer': installer}}]}]))
    try:
        run = fleet_ansible.playbook(str(playbook))
    finally:
        sh(offline_hosts, host, 'rm', '-rf', '/etc/pip.conf', '/root/.config/pip', '/root/.config/uv', '/tmp/hostile')
    result = run.results('install')[host]
    assert run.rc == 0, run
    assert result['installer'] == installer
    assert dict((n, installed(offline_hosts, host, venv + '/bin/python')[n]) for n in CLOSURE) == CLOSURE
    assert not exists(offline_hosts, host, '/tmp/pip-target')
    assert exists(offline_hosts, host, '%s/lib/python3.11/site-packages/airgap_fixture_top/__pycache__' % venv)


def test_broken_requirements_after_install_fail_the_task_with_pip_check_output(offline_hosts, fleet_ansible, host, request,
                                                                               caches):
    cache = work_copy(offline_hosts, host, request)
    # A manifest whose recorded closure forgot a dependency: everything verifies, pip check catches it.
    host_python_edit(offline_hosts, host, (
        'import json, shutil, sys; cache, extra = sys.argv[1:]; '
        'shutil.copy(extra + "/needs_missing-1.0-py3-none-any.whl", cache); '
        'import hashlib, os; f = "needs_missing-1.0-py3-none-any.whl"; data = open(os.path.join(cache, f), "rb").read(); '
        'p = os.path.join(cache, "manifest.json"); m = json.load(open(p)); '
        'm["artifacts"].append(dict(filename=f, name="needs-missing", version="1.0", size=len(data), '
        'sha256=hashlib.sha256(data).hexdigest(), platform="py3-none-any", requires=[], source="tests", built=False, native=False)); '
        'm["requirements"].append(dict(requirement="needs-missing", name="needs-missing", closure=["needs-missing"])); '
        'json.dump(m, open(p, "w"))'), cache, cache_path('extra'))
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv, packages=['needs-missing'])
    assert result.get('failed') is True
    assert 'check failed' in result['msg'] and 'airgap-fixture-nowhere' in result['msg']


# ---------------------------------------------------------------- sync, absent, installers, interpreters

def test_sync_removes_what_the_selection_does_not_pin_and_nothing_else(offline_hosts, fleet_ansible, host, request, caches):
    venv = venv_path(request)
    python = venv + '/bin/python'
    assert run_module(fleet_ansible, host, cache=cache_path('uv'), virtualenv=venv)['changed'] is True
    sh(offline_hosts, host, python, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps',
       '%s/stray-0.1-py3-none-any.whl' % cache_path('extra'))
    plain = run_module(fleet_ansible, host, cache=cache_path('uv'), virtualenv=venv)
    assert plain['changed'] is False  # without sync, a stray package stays
    synced = run_module(fleet_ansible, host, cache=cache_path('uv'), virtualenv=venv, packages=[MID], sync=True)
    assert sorted((c['name'], c['action']) for c in synced['changes']) == [(TOP, 'remove'), ('stray', 'remove')]
    have = installed(offline_hosts, host, python)
    assert TOP not in have and 'stray' not in have and have[MID] == '1.2.0' and 'pip' in have
    assert run_module(fleet_ansible, host, cache=cache_path('uv'), virtualenv=venv, packages=[MID], sync=True)['changed'] is False


def test_absent_removes_the_named_requirement_only(offline_hosts, fleet_ansible, host, request):
    venv = venv_path(request)
    assert run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv)['changed'] is True
    removed = run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv, state='absent')
    assert removed['changes'] == [{'name': TOP, 'action': 'remove', 'before': '2.0.0', 'after': None}]
    have = installed(offline_hosts, host, venv + '/bin/python')
    assert TOP not in have and have[MID] == '1.2.0'
    assert run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv, state='absent')['changed'] is False


def test_uv_backend_installs_from_the_cache_without_installing_uv(offline_hosts, fleet_ansible, host, request):
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=cache_path('uv'), virtualenv=venv, installer='uv')
    assert result.get('failed') is not True, result
    assert result['installer'] == 'uv'
    have = installed(offline_hosts, host, venv + '/bin/python')
    assert dict((n, have[n]) for n in CLOSURE) == CLOSURE and 'uv' not in have and 'pip' in have
    assert not exists(offline_hosts, host, venv + '/bin/uv')
    assert run_module(fleet_ansible, host, cache=cache_path('uv'), virtualenv=venv, installer='uv')['changed'] is False


def test_python_option_installs_into_that_interpreter(offline_hosts, fleet_ansible, host, request):
    venv = venv_path(request)
    sh(offline_hosts, host, 'python3', '-m', 'venv', '--without-pip', venv)
    result = run_module(fleet_ansible, host, cache=cache_path('uv'), python=venv + '/bin/python', packages=[MID])
    assert result.get('failed') is not True, result
    assert result['interpreter'] == venv + '/bin/python' and result['virtualenv'] is None
    assert installed(offline_hosts, host, venv + '/bin/python')[MID] == '1.2.0'


def test_externally_managed_system_python_is_refused_without_break_system_packages(offline_hosts, fleet_ansible, host):
    result = run_module(fleet_ansible, host, cache=cache_path('uv'), python='/usr/bin/python3', packages=[MID])
    assert result.get('failed') is True and 'PEP 668' in result['msg']
    assert MID not in installed(offline_hosts, host, '/usr/bin/python3')


def test_two_concurrent_runs_against_one_virtualenv_do_not_corrupt_it(offline_hosts, fleet_ansible, host, request):
    venv = venv_path(request)
    results = []

    def one_run():
        results.append(run_module(fleet_ansible, host, cache=cache_path('pip'), virtualenv=venv))

    threads = [threading.Thread(target=one_run), threading.Thread(target=one_run)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.get('failed') is not True for r in results), results
    assert sorted(r['changed'] for r in results) == [False, True], json.dumps(results, indent=1)[:6000]
    assert sh(offline_hosts, host, venv + '/bin/python', '-I', '-m', 'pip', 'check').strip() == 'No broken requirements found.'
    assert dict((n, installed(offline_hosts, host, venv + '/bin/python')[n]) for n in CLOSURE) == CLOSURE


# ---------------------------------------------------------------- with wheel_cache

@pytest.fixture(scope='module')
def tool_index(tmp_path_factory, tools):
    """The fixture projects plus the pip and uv wheels, as an index wheel_cache can resolve installers from."""
    extras = sorted(set(glob.glob(os.path.join(REPO, '.cache', 'index-extras', '*.whl'))) | set([tools['pip'], tools['uv']]))
    index = PythonIndex(str(tmp_path_factory.mktemp('pip-offline-index')), extra_files=extras).build().start()
    yield index
    index.stop()


def test_a_cache_built_by_wheel_cache_installs_with_uv_and_bootstraps_pip_from_it(
        offline_hosts, fleet_ansible, ansible, host, request, tool_index, tmp_path):
    built = ansible.module('localhost', 'airgap.packages.wheel_cache', {
        'dest': str(tmp_path), 'index_url': tool_index.url, 'requirements': [TOP, 'uv'], 'include_installers': True})
    built = built['localhost']
    assert built.get('failed') is not True and len(built['caches']) == 1, built
    cache = built['caches'][0]
    remote = cache_path('wheel_cache')
    offline_hosts.push_dir(host, cache['path'], remote)
    venv = venv_path(request)
    result = run_module(fleet_ansible, host, cache=remote, virtualenv=venv, packages=[TOP])
    assert result.get('failed') is not True, result
    assert result['installer'] == 'uv' and result['manifest_digest'] == cache['digest']
    have = installed(offline_hosts, host, venv + '/bin/python')
    assert dict((n, have[n]) for n in CLOSURE) == CLOSURE and 'uv' not in have and 'pip' in have
    assert run_module(fleet_ansible, host, cache=remote, virtualenv=venv, packages=[TOP])['changed'] is False


# ---------------------------------------------------------------- bare targets

@pytest.fixture(scope='module')
def bare_fleet(tmp_path_factory, caches):
    """host1: python3 without pip and ensurepip (minimal Debian); host2: also without the venv module."""
    fleet = HostFleet(str(tmp_path_factory.mktemp('pip-offline-bare')))
    try:
        fleet.start(1, hide=NO_PIP)
        fleet.start(1, hide=NO_VENV)
        for name in fleet.names:
            fleet.push_dir(name, os.path.join(caches['root'], 'pip'), cache_path('pip'))
        yield fleet, Ansible(inventory=fleet.inventory)
    finally:
        fleet.stop()


@pytest.mark.parametrize('which', ['no pip, no ensurepip', 'no venv module'])
def test_bare_python_gets_a_working_virtualenv_with_pip_from_the_cache(bare_fleet, which, caches):
    fleet, ansible = bare_fleet
    name = fleet.names[0] if which == 'no pip, no ensurepip' else fleet.names[1]
    assert fleet.run(name, ['python3', '-c', 'import ensurepip']).returncode != 0
    assert fleet.run(name, ['python3', '-m', 'pip', '--version']).returncode != 0
    if which == 'no venv module':
        assert fleet.run(name, ['python3', '-c', 'import venv']).returncode != 0
    venv = '%s/venvs/bare' % REMOTE
    result = ansible.module(name, MODULE, {'cache': cache_path('pip'), 'virtualenv': venv})[name]
    assert result.get('failed') is not True, result
    assert result['virtualenv_created'] is True
    pip_version = wheel_of(caches['manifests']['pip'], 'pip').version
    assert sh(fleet, name, venv + '/bin/pip', '--version').startswith('pip %s from %s' % (pip_version, venv))
    assert sh(fleet, name, venv + '/bin/python', '-c', 'import airgap_fixture_top, sys; print(sys.prefix)').strip() == venv
    again = ansible.module(name, MODULE, {'cache': cache_path('pip'), 'virtualenv': venv})[name]
    assert again['changed'] is False


def test_system_python_without_pip_takes_pip_from_the_cache_and_sync_spares_debian_packages(bare_fleet):
    fleet, ansible = bare_fleet
    name = fleet.names[0]
    args = {'cache': cache_path('pip'), 'python': '/usr/bin/python3', 'break_system_packages': True, 'sync': True}
    debian_before = installed(fleet, name, '/usr/bin/python3')
    result = ansible.module(name, MODULE, args)[name]
    assert result.get('failed') is not True, result.get('msg')
    assert result['installer'] == 'pip' and result['site_packages'] == '/usr/local/lib/python3.11/dist-packages'
    assert sorted((c['name'], c['action']) for c in result['changes']) == sorted((n, 'install') for n in CLOSURE)
    after = installed(fleet, name, '/usr/bin/python3')
    assert dict((n, after[n]) for n in CLOSURE) == CLOSURE
    assert all(after.get(n) == v for n, v in debian_before.items())  # nothing of the system's was removed
    assert ansible.module(name, MODULE, args)[name]['changed'] is False
