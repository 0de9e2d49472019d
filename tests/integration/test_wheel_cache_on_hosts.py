# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wheel_cache and platform_facts through the real ansible CLI: fixture index, offline hosts, real PyPI."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import pytest

from runner import ansible_env, local_task_both_ways, local_tasks

from ansible_collections.airgap.packages.plugins.module_utils._controller.cache_dir import WORKSPACE_PREFIX
from ansible_collections.airgap.packages.plugins.module_utils._common import platform_info

from ansible_collections.airgap.packages.plugins.module_utils._common.scripts import wheeltags
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import load_manifest, sha256_file, verify_artifacts

pytestmark = pytest.mark.integration

MODULE = 'airgap.packages.wheel_cache'
ARM39 = {'version': '3.9.18', 'arch': 'aarch64', 'libc': {'flavor': 'glibc', 'version': '2.31'}}
X86_313 = {'version': '3.13.1', 'arch': 'x86_64', 'libc': {'flavor': 'glibc', 'version': '2.36'}}
FIXTURE_WHEELS = ['airgap_fixture_base-1.0.0-py3-none-any.whl', 'airgap_fixture_mid-1.2.0-py3-none-any.whl',
                  'airgap_fixture_top-2.0.0-py3-none-any.whl']
SDIST_WHEEL = 'airgap_fixture_sdistonly-0.3.0-py3-none-any.whl'


def run(ansible, args, check=False, diff=False):
    return ansible.module('localhost', MODULE, args, check=check, diff=diff)['localhost']


def run_without_network(args):
    """The module in a fresh network namespace with no interface up: any network access fails."""
    with tempfile.TemporaryDirectory() as tree:
        argv = ['unshare', '--net', 'ansible', 'localhost', '-i', 'localhost,', '-c', 'local', '-m', MODULE,
                '-a', json.dumps(args), '-e', 'ansible_python_interpreter=%s' % sys.executable, '--tree', tree]
        completed = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), check=False)
        assert os.listdir(tree), completed.stdout + completed.stderr
        with open(os.path.join(tree, 'localhost')) as handle:
            return json.load(handle)


def assert_cache_verifies(cache):
    manifest = load_manifest(cache['path'])
    verify_artifacts(cache['path'], manifest.artifacts)
    for artifact in manifest.artifacts:
        assert sha256_file(os.path.join(cache['path'], artifact.filename)) == artifact.sha256
    assert manifest.digest == cache['digest']
    return manifest


def descendants(pid):
    """PIDs of every process below pid (children first found, then theirs), read from /proc."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    parents.setdefault(int(handle.read().rsplit(')', 1)[1].split()[1]), []).append(int(entry))
            except (IOError, OSError, IndexError, ValueError):
                pass
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def files_in(path):
    return sorted(name for name in os.listdir(path) if name.endswith('.whl'))


def downloads(index):
    return sorted(os.path.basename(path) for path in index.requests if path.startswith('/files/'))


def publish_wheel(index, name, version, tags, requires=()):
    """Publish a minimal wheel with the given tags on the fixture index (idempotent per file name)."""
    dist = name.replace('-', '_')
    filename = '%s-%s-%s.whl' % (dist, version, tags)
    if not os.path.exists(os.path.join(index.files_dir, filename)):
        with tempfile.TemporaryDirectory() as work:
            path = os.path.join(work, filename)
            info = '%s-%s.dist-info' % (dist, version)
            with zipfile.ZipFile(path, 'w') as archive:
                archive.writestr('%s/METADATA' % info, 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s' % (
                    name, version, ''.join('Requires-Dist: %s\n' % r for r in requires)))
                archive.writestr('%s/WHEEL' % info, 'Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: %s\n' % tags)
                archive.writestr('%s/RECORD' % info, '')
            index.add(path)
    return filename


# ---------------------------------------------------------------- hermetic: the fixture index

def test_fixture_set_with_the_sdist_only_project_lands_for_this_host_and_a_foreign_platform(ansible, python_index, tmp_path):
    result = run(ansible, {'dest': str(tmp_path), 'index_url': python_index.url, 'pylock': True,
                           'requirements': ['airgap-fixture-top', 'airgap-fixture-sdistonly'],
                           'platforms': [platform_info.describe_running_python(), ARM39]})
    assert result['changed'] and len(result['caches']) == 2, result
    for cache in result['caches']:
        assert files_in(cache['path']) == sorted(FIXTURE_WHEELS + [SDIST_WHEEL])
        manifest = assert_cache_verifies(cache)
        built = dict((a.filename, a.built) for a in manifest.artifacts)
        assert built[SDIST_WHEEL] and not built[FIXTURE_WHEELS[0]]
        assert manifest.environment['key'] == cache['key'] == os.path.basename(cache['path'])
        closures = dict((t.name, t.closure) for t in manifest.requirements)
        assert closures['airgap-fixture-top'] == ['airgap-fixture-base', 'airgap-fixture-mid', 'airgap-fixture-top']
        assert closures['airgap-fixture-sdistonly'] == ['airgap-fixture-base', 'airgap-fixture-sdistonly']
        assert os.path.exists(os.path.join(cache['path'], 'pylock.toml'))
    assert result['caches'][1]['key'].startswith('cp39-manylinux_2_31-aarch64-')


def test_second_run_reports_no_change_with_the_index_stopped_and_no_network(ansible, python_index, tmp_path):
    args = {'dest': str(tmp_path), 'index_url': python_index.url,
            'requirements': ['airgap-fixture-top', 'airgap-fixture-sdistonly'], 'platforms': [ARM39]}
    first = run(ansible, args)
    assert first['changed'], first
    python_index.stop()
    try:
        second = run_without_network(args)
    finally:
        python_index.start()
    assert not second.get('failed') and second['changed'] is False, second
    assert second['caches'][0]['resolved'] is False and second['caches'][0]['digest'] == first['caches'][0]['digest']


def test_adding_a_requirement_downloads_only_its_new_files(ansible, python_index, tmp_path):
    args = {'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': ['airgap-fixture-mid']}
    run(ansible, args)
    del python_index.requests[:]
    result = run(ansible, dict(args, requirements=['airgap-fixture-mid', 'airgap-fixture-top']))
    cache = result['caches'][0]
    assert result['changed'] and cache['added'] == ['airgap_fixture_top-2.0.0-py3-none-any.whl'] and cache['removed'] == []
    assert downloads(python_index) == ['airgap_fixture_top-2.0.0-py3-none-any.whl']
    assert_cache_verifies(cache)


def test_removing_a_requirement_with_prune_in_check_mode_diff_and_for_real(ansible, python_index, tmp_path):
    args = {'dest': str(tmp_path), 'index_url': python_index.url,
            'requirements': ['airgap-fixture-top', 'airgap-fixture-sdistonly']}
    first = run(ansible, args)['caches'][0]
    smaller = dict(args, requirements=['airgap-fixture-mid'], prune=True)
    planned = run(ansible, smaller, check=True, diff=True)
    cache = planned['caches'][0]
    gone = sorted([FIXTURE_WHEELS[2], SDIST_WHEEL])
    assert planned['changed'] and cache['removed'] == gone and cache['pruned'] == gone and cache['added'] == []
    assert SDIST_WHEEL in planned['diff'][0]['before'] and SDIST_WHEEL not in planned['diff'][0]['after']
    assert files_in(first['path']) == sorted(FIXTURE_WHEELS + [SDIST_WHEEL])
    assert load_manifest(first['path']).digest == first['digest']
    done = run(ansible, smaller)['caches'][0]
    assert done['removed'] == gone and done['pruned'] == gone
    assert files_in(done['path']) == FIXTURE_WHEELS[:2]
    assert_cache_verifies(done)
    again = run(ansible, smaller, check=True)
    assert again['changed'] is False


def test_a_failed_download_leaves_the_previous_cache_and_manifest_intact(ansible, python_index, tmp_path):
    filename = publish_wheel(python_index, 'airgap-fixture-tampered', '1.0', 'py3-none-any')
    with open(os.path.join(python_index.files_dir, filename), 'ab') as handle:
        handle.write(b'altered after the index announced its sha256')
    args = {'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': ['airgap-fixture-mid']}
    first = run(ansible, args)['caches'][0]
    failed = run(ansible, dict(args, requirements=['airgap-fixture-mid', 'airgap-fixture-tampered']))
    assert failed['failed'] and filename in failed['msg'] and 'sha256' in failed['msg'], failed
    assert files_in(first['path']) == FIXTURE_WHEELS[:2]
    assert load_manifest(first['path']).digest == first['digest']
    assert [n for n in os.listdir(str(tmp_path)) if n.startswith(WORKSPACE_PREFIX)] == []


def test_an_interrupted_build_leaves_the_previous_cache_intact_and_the_next_run_completes(python_index, tmp_path, ansible):
    args = {'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': ['airgap-fixture-mid']}
    first = run(ansible, args)['caches'][0]
    bigger = dict(args, requirements=['airgap-fixture-mid', 'airgap-fixture-sdistonly'])
    argv = ['ansible', 'localhost', '-i', 'localhost,', '-c', 'local', '-m', MODULE, '-a', json.dumps(bigger),
            '-e', 'ansible_python_interpreter=%s' % sys.executable]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ansible_env())
    deadline = time.time() + 60
    # The sdist build runs inside the private workspace: kill everything once it exists.
    while time.time() < deadline and not any(n.startswith(WORKSPACE_PREFIX) for n in os.listdir(str(tmp_path))):
        time.sleep(0.02)
    for pid in descendants(proc.pid) + [proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    assert load_manifest(first['path']).digest == first['digest']
    verify_artifacts(first['path'], load_manifest(first['path']).artifacts)
    assert SDIST_WHEEL not in [a.filename for a in load_manifest(first['path']).artifacts]
    done = run(ansible, bigger)
    assert done['caches'][0]['added'] == [SDIST_WHEEL], done
    assert [n for n in os.listdir(str(tmp_path)) if n.startswith(WORKSPACE_PREFIX)] == []


# ---------------------------------------------------------------- bad input

def test_an_invalid_requirement_is_named(ansible, python_index, tmp_path):
    result = run(ansible, {'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': ['airgap-fixture-top >>> 1']})
    assert result['failed'] and "invalid requirement 'airgap-fixture-top >>> 1'" in result['msg'], result


def test_a_version_that_does_not_exist_is_named_with_the_available_ones(ansible, python_index, tmp_path):
    result = run(ansible, {'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': ['airgap-fixture-base==7.0']})
    assert result['failed'], result
    assert 'airgap-fixture-base==7.0 (requested): no matching version' in result['msg'] and '0.9.0, 1.0.0' in result['msg']


def test_every_package_without_a_wheel_is_listed_per_platform_with_its_tags(ansible, python_index, tmp_path):
    native = publish_wheel(python_index, 'airgap-fixture-native', '1.0', 'cp311-cp311-manylinux_2_17_x86_64')
    publish_wheel(python_index, 'airgap-fixture-winonly', '1.0', 'cp39-cp39-win_amd64')
    result = run(ansible, {'dest': str(tmp_path), 'index_url': python_index.url, 'platforms': [ARM39, X86_313],
                           'requirements': ['airgap-fixture-top', 'airgap-fixture-native', 'airgap-fixture-winonly']})
    assert result['failed'], result
    missing = sorted((m['package'], m['platform'].split('-')[0], tuple(m['available_tags'])) for m in result['missing'])
    assert missing == [('airgap-fixture-native', 'cp313', ('cp311-cp311-manylinux_2_17_x86_64',)),
                       ('airgap-fixture-native', 'cp39', ('cp311-cp311-manylinux_2_17_x86_64',)),
                       ('airgap-fixture-winonly', 'cp313', ('cp39-cp39-win_amd64',)),
                       ('airgap-fixture-winonly', 'cp39', ('cp39-cp39-win_amd64',))]
    assert 'cp311-cp311-manylinux_2_17_x86_64' in result['msg'] and 'cp39-cp39-win_amd64' in result['msg']
    assert native.endswith('.whl') and not [n for n in os.listdir(str(tmp_path)) if not n.startswith('.')]


def test_an_unreachable_index_is_named_without_its_credentials(ansible, tmp_path):
    result = run(ansible, {'dest': str(tmp_path), 'requirements': ['six'], 'timeout': 5,
                           'index_url': 'http://builder:s3cr3t-token@127.0.0.1:9/simple/'})
    assert result['failed'] and 'cannot reach the package index at 127.0.0.1:9/simple/' in result['msg'], result
    assert 's3cr3t-token' not in json.dumps(result)


def test_credentials_in_the_index_url_stay_out_of_manifest_and_results(ansible, python_index, tmp_path):
    url = python_index.url.replace('http://', 'http://builder:s3cr3t-token@')
    args = {'dest': str(tmp_path), 'index_url': url, 'requirements': ['airgap-fixture-mid'], 'pylock': True, 'platforms': [ARM39]}
    result = run(ansible, args)
    assert not result.get('failed'), result
    cache = result['caches'][0]
    for name in ('manifest.json', 'pylock.toml'):
        with open(os.path.join(cache['path'], name)) as handle:
            text = handle.read()
        assert 's3cr3t-token' not in text and python_index.url in text
    assert 's3cr3t-token' not in json.dumps(result)
    again = run(ansible, args)  # current: answered in-process
    assert 'invocation' not in again and again['changed'] is False, again
    assert 's3cr3t-token' not in json.dumps(again) and 'builder' not in json.dumps(again)


# ---------------------------------------------------------------- the action plugin: a current cache answered in-process
# Only AnsibleModule adds `invocation` to a result: a result without it was answered without running the module.

def test_a_current_cache_on_a_local_connection_is_answered_in_process_with_the_modules_own_result(
        ansible, python_index, tmp_path):
    args = {'dest': str(tmp_path / 'cache'), 'index_url': python_index.url, 'requirements': ['airgap-fixture-top'],
            'platforms': [ARM39, X86_313], 'prune': True, 'pylock': True}
    assert run(ansible, args)['changed']
    for check in (False, True):
        in_process, module = local_task_both_ways(ansible, tmp_path, MODULE, args, check=check)
        assert 'invocation' not in in_process and 'invocation' in module, (in_process, module)
        del module['invocation']
        assert in_process == module and in_process['changed'] is False and len(in_process['diff']) == 2


def test_an_altered_file_and_a_changed_requirement_go_to_the_module_then_the_next_run_is_answered_in_process(
        ansible, python_index, tmp_path):
    args = {'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': ['airgap-fixture-mid'], 'platforms': [ARM39]}
    cache = run(ansible, args)['caches'][0]
    with open(os.path.join(cache['path'], FIXTURE_WHEELS[0]), 'r+b') as handle:
        handle.write(b'X')  # same size, other bytes
    repaired = run(ansible, args)
    assert 'invocation' in repaired and repaired['changed'] and repaired['caches'][0]['repaired'] == [FIXTURE_WHEELS[0]]
    assert_cache_verifies(repaired['caches'][0])
    grown = dict(args, requirements=['airgap-fixture-mid', 'airgap-fixture-top'])
    rebuilt = run(ansible, grown)
    assert 'invocation' in rebuilt and rebuilt['changed'] and rebuilt['caches'][0]['added'] == [FIXTURE_WHEELS[2]]
    again = run(ansible, grown)
    assert 'invocation' not in again and again['changed'] is False
    assert again['caches'] == [dict(rebuilt['caches'][0], added=[], changed=False, resolved=False)]


@pytest.mark.parametrize('option', [{'refresh': True}, {'use_pip_config': True}, {'platforms': []}])
def test_options_whose_answer_depends_on_the_module_process_run_the_module(ansible, python_index, tmp_path, option):
    args = dict({'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': ['airgap-fixture-mid'],
                 'platforms': [ARM39]}, **option)
    run(ansible, args)
    again = run(ansible, args)
    assert 'invocation' in again and not again.get('failed'), again


def test_tasks_with_become_or_async_run_the_module(ansible, python_index, tmp_path):
    args = {'dest': str(tmp_path), 'index_url': python_index.url, 'requirements': ['airgap-fixture-mid'], 'platforms': [ARM39]}
    run(ansible, args)
    results = local_tasks(ansible, tmp_path, [{'name': 'with become', MODULE: args, 'become': True, 'become_method': 'su'},
                                              {'name': 'async', MODULE: args, 'async': 60, 'poll': 1}])
    assert 'invocation' in results['with become'] and results['with become']['changed'] is False, results
    assert results['async']['ansible_job_id'] and results['async']['changed'] is False, results


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / 'tiny'
    mount.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(['umount', '-l', str(mount)], check=False)


def test_a_full_disk_is_reported_and_nothing_half_written_is_left(ansible, python_index, tiny_disk):
    dest = tiny_disk / 'cache'
    args = {'dest': str(dest), 'index_url': python_index.url, 'requirements': ['airgap-fixture-mid']}
    first = run(ansible, args)['caches'][0]
    with open(str(tiny_disk / 'filler'), 'wb') as handle:
        try:
            handle.write(b'\0' * (64 * 1024))
        except OSError:
            pass
    result = run(ansible, dict(args, requirements=['airgap-fixture-mid', 'airgap-fixture-top']))
    assert result['failed'] and 'no space left' in result['msg'], result
    assert files_in(first['path']) == FIXTURE_WHEELS[:2]
    assert load_manifest(first['path']).digest == first['digest']
    assert [n for n in os.listdir(first['path']) if n.startswith('.')] == []


# ---------------------------------------------------------------- platform_facts on offline targets

def test_platform_facts_on_offline_hosts_without_packaging_give_equal_keys(offline_hosts, fleet_ansible):
    results = fleet_ansible.module('all', 'airgap.packages.platform_facts')
    facts = dict((host, r['ansible_facts']['airgap_platform']) for host, r in results.items())
    assert sorted(facts) == sorted(offline_hosts.names), results
    keys = set(f['key'] for f in facts.values())
    assert len(keys) == 1, keys
    python = list(facts.values())[0]['python']
    assert python['libc']['flavor'] == 'glibc' and python['tags'][-1] == 'py30-none-any'
    assert python['marker_environment']['python_version'] == python['version'].rsplit('.', 1)[0]
    assert list(facts.values())[0]['ruby']['key'].startswith('ruby-')
    missing = offline_hosts.run(offline_hosts.names[0], ['python3', '-c', 'import packaging'])
    assert missing.returncode != 0, 'the host has packaging: the test would prove nothing'
    by_hand = platform_info.complete_python_description({
        'version': python['version'], 'arch': python['arch'], 'libc': python['libc']})
    assert by_hand['key'] == python['key']


def test_platform_facts_describes_a_venv_without_pip_in_check_mode(offline_hosts, fleet_ansible):
    host = offline_hosts.names[0]
    offline_hosts.run(host, ['python3', '-m', 'venv', '--without-pip', '/tmp/nopip'], check=True)
    result = fleet_ansible.module(host, 'airgap.packages.platform_facts',
                                  {'python_interpreter': '/tmp/nopip/bin/python', 'gather_ruby': False}, check=True)[host]
    python = result['ansible_facts']['airgap_platform']['python']
    assert result['changed'] is False and python['pip_available'] is False
    assert python['interpreter'] == '/tmp/nopip/bin/python'
    assert result['ansible_facts']['airgap_platform']['ruby'] is None


def test_a_cache_built_from_the_hosts_facts_is_named_after_their_key(offline_hosts, fleet_ansible, ansible, python_index,
                                                                     tmp_path):
    results = fleet_ansible.module('all', 'airgap.packages.platform_facts', {'gather_ruby': False})
    platforms = [r['ansible_facts']['airgap_platform'] for r in results.values()]
    result = run(ansible, {'dest': str(tmp_path), 'index_url': python_index.url, 'platforms': platforms,
                           'requirements': ['airgap-fixture-top']})
    assert [c['key'] for c in result['caches']] == [platforms[0]['python']['key']]
    for filename in files_in(result['caches'][0]['path']):
        assert not wheeltags.incompatible_wheels([filename], platforms[0]['python']['tags'])


# ---------------------------------------------------------------- real PyPI

@pytest.mark.pypi
def test_real_pypi_compiled_wheels_for_this_host_and_foreign_platforms(ansible, tmp_path):
    platforms = [platform_info.describe_running_python(), ARM39, X86_313]
    args = {'dest': str(tmp_path), 'requirements': ['PyYAML', 'MarkupSafe', 'idna'], 'platforms': platforms}
    result = run(ansible, args)
    assert result['changed'] and len(result['caches']) == 3, result
    for cache, platform in zip(result['caches'], platforms):
        described = platform_info.complete_python_description(platform)
        manifest = assert_cache_verifies(cache)
        names = sorted(a.name for a in manifest.artifacts)
        assert names == ['idna', 'markupsafe', 'pyyaml'], names
        assert not wheeltags.incompatible_wheels(files_in(cache['path']), described['tags'])
        native = dict((a.name, a.native) for a in manifest.artifacts)
        assert native['pyyaml'] and native['markupsafe'] and not native['idna']
    arm = files_in(result['caches'][1]['path'])
    assert any('cp39-cp39' in f and 'aarch64' in f for f in arm), arm
    assert any('cp313-cp313' in f and 'x86_64' in f for f in files_in(result['caches'][2]['path']))
    second = run_without_network(args)
    assert second['changed'] is False and not any(c['resolved'] for c in second['caches']), second


@pytest.mark.pypi
def test_a_hand_written_python_version_needs_its_patch_level_which_real_requires_python_tells_apart(ansible, tmp_path):
    x86_39 = {'arch': 'x86_64', 'libc': {'flavor': 'glibc', 'version': '2.31'}}
    args = {'dest': str(tmp_path), 'requirements': ['cryptography']}
    refused = run(ansible, dict(args, platforms=[dict(x86_39, version='3.9')]), check=True)
    assert refused.get('failed') and "platforms[0]: platform" in refused['msg'], refused
    assert "Python version '3.9' has no patch level" in refused['msg'] and '3.9.18' in refused['msg']
    # cryptography's Requires-Python has excluded 3.9.0 and 3.9.1 since release 44: read as 3.9.0, "3.9" would
    # silently get a release of years before.
    chosen = {}
    for version in ('3.9.0', '3.9.2'):
        result = run(ansible, dict(args, platforms=[dict(x86_39, version=version)]), check=True)
        assert not result.get('failed'), result
        wheel = [name for name in result['caches'][0]['added'] if name.startswith('cryptography-')]
        assert len(wheel) == 1, result
        chosen[version] = int(wheel[0].split('-')[1].split('.')[0])
    assert chosen['3.9.0'] == 43 and chosen['3.9.2'] >= 44, chosen
