# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attacks on the install side, performed for real on offline hosts: an installer killed while it
writes a dist-info, gem directories and specifications that no longer match, caches for another
interpreter, hostile and malformed wheels and gems, and a filesystem too small or filling up
while pip writes.
"""

import base64
import hashlib
import io
import json
import os
import shlex
import subprocess
import tarfile
import zipfile

import pytest

from gem_offline_support import build_gem, build_gem_cache
from pip_offline_support import artifact_for, installer_wheels

from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact, Manifest, TopLevel, sha256_file, write_manifest)

pytestmark = pytest.mark.integration

REMOTE = '/srv/hardening-install'
PIP = 'airgap.packages.pip_offline'
GEM = 'airgap.packages.gem_offline'
SITE = 'lib/python3.11/site-packages'
MiB = 1024 * 1024


# ---------------------------------------------------------------- wheels, caches and hosts

def record_hash(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def build_wheel(directory, name, version, tags='py3-none-any', files=None, payload_size=0, dist_info=None,
                metadata_name=None, metadata_version=None, requires=()):
    """A wheel written member by member (deflated), RECORD consistent with what it holds unless told otherwise.

    files: {member: bytes} besides the package's __init__.py; payload_size: that many zero bytes as
    <package>/payload.bin (deflated to almost nothing, installed at full size).
    """
    dist = name.replace('-', '_')
    info = dist_info or '%s-%s.dist-info' % (dist, version)
    metadata = ['Metadata-Version: 2.1', 'Name: %s' % (metadata_name or name), 'Version: %s' % (metadata_version or version)]
    metadata += ['Requires-Dist: %s' % requirement for requirement in requires]
    members = {
        '%s/__init__.py' % dist: ('__version__ = %r\n' % version).encode(),
        '%s/METADATA' % info: ('\n'.join(metadata) + '\n').encode(),
        '%s/WHEEL' % info: ('Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: %s\n' % tags).encode(),
    }
    members.update(files or {})
    if payload_size:
        members['%s/payload.bin' % dist] = b'\0' * payload_size
    record = ['%s,%s,%d' % (member, record_hash(data), len(data)) for member, data in sorted(members.items())]
    members['%s/RECORD' % info] = ('\n'.join(record + ['%s/RECORD,,' % info]) + '\n').encode()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, '%s-%s-%s.whl' % (dist, version, tags))
    # Metadata first and RECORD last, as several wheel builders lay them out: an installer that dies
    # while writing the package has written METADATA and not yet RECORD.
    order = sorted(members, key=lambda m: (m.endswith('/RECORD'), not m.startswith(info + '/'), m))
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        for member in order:
            archive.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), members[member], zipfile.ZIP_DEFLATED)
    return path


def write_cache(dest, files, tops=None, tools=(), environment=None, artifacts=None):
    """A cache of files (each its own top-level requirement unless tops says otherwise) plus installer tools."""
    os.makedirs(dest, exist_ok=True)
    names = []
    for path in list(files) + list(tools):
        target = os.path.join(dest, os.path.basename(path))
        with open(path, 'rb') as source, open(target, 'wb') as handle:
            handle.write(source.read())
        names.append(os.path.basename(path))
    listed = dict((a.filename, a) for a in artifacts or [])
    entries = [listed.get(f) or artifact_for(dest, f) for f in names]
    if tops is None:
        tops = [artifact_for(dest, os.path.basename(f)).name for f in files]
    manifest = Manifest('python', environment or {'key': 'test-cp311-x86_64'}, [TopLevel(t, t, [t]) for t in tops], entries,
                        generator='tests')
    write_manifest(dest, manifest)
    return manifest


@pytest.fixture(scope='module')
def tools():
    return installer_wheels()


@pytest.fixture(scope='module')
def host(offline_hosts):
    return offline_hosts.names[0]


@pytest.fixture
def work(tmp_path):
    return str(tmp_path)


def ship(fleet, host, local, name):
    remote = '%s/caches/%s' % (REMOTE, name)
    fleet.push_dir(host, local, remote)
    return remote


def run_module(ansible, host, module=PIP, check=False, **args):
    return ansible.module(host, module, args, check=check)[host]


def sh(fleet, host, *argv):
    done = fleet.run(host, list(argv))
    assert done.returncode == 0, '%s failed on %s: %s %s' % (argv, host, done.stdout, done.stderr)
    return done.stdout


def exists(fleet, host, path):
    return fleet.run(host, ['test', '-e', path]).returncode == 0


def listing(fleet, host, path):
    """Every entry below path with its type and size, files with their inode: what an undone run leaves exactly as it was."""
    files = sh(fleet, host, 'find', path, '-type', 'f', '-printf', '%P f %s %i\n').splitlines()
    others = sh(fleet, host, 'find', path, '!', '-type', 'f', '-printf', '%P %y %s\n').splitlines()
    return sorted(files + others)


def versions(fleet, host, python):
    code = ('import importlib.metadata as m, json, re; print(json.dumps(dict('
            '(re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(), d.version) for d in m.distributions())))')
    return json.loads(sh(fleet, host, python, '-I', '-c', code))


def fresh(fleet, host, *paths):
    for path in paths:
        sh(fleet, host, 'rm', '-rf', path)


def start_on_host(fleet, host, script, *args):
    """Run a python script on the host in the background; returns the process once the script printed 'ready'."""
    process = subprocess.Popen(fleet.ssh_argv(host) + ['--', shlex.join(['python3', '-c', script] + list(args))],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.strip() == 'ready', (line, process.stderr.read() if process.poll() is not None else '')
    return process


def finish(process):
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, (out, err)
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------- 2. a crash while pip writes a dist-info

# Waits until pip has written METADATA of the distribution, freezes pip and the module that runs it,
# notes whether RECORD exists, then kills both: the run dies as in a power cut, nothing gets to clean up.
KILL_WHEN_METADATA_IS_WRITTEN = r'''
import json, os, signal, sys, time
dist_info, venv_python = sys.argv[1:3]
print('ready', flush=True)
deadline = time.time() + 150
while time.time() < deadline:
    if os.path.exists(os.path.join(dist_info, 'METADATA')):
        for pid in filter(str.isdigit, os.listdir('/proc')):
            try:
                argv = open('/proc/%s/cmdline' % pid, 'rb').read().split(b'\0')
                parent = int(open('/proc/%s/stat' % pid).read().rsplit(')', 1)[1].split()[1])
            except (IOError, OSError, ValueError, IndexError):
                continue
            if argv[0].decode() == venv_python and b'pip._internal' in b' '.join(argv):
                os.kill(int(pid), signal.SIGSTOP)
                os.kill(parent, signal.SIGSTOP)
                record = os.path.exists(os.path.join(dist_info, 'RECORD'))
                os.kill(parent, signal.SIGKILL)
                os.kill(int(pid), signal.SIGKILL)
                print(json.dumps({'pip': int(pid), 'module': parent, 'record_existed': record}))
                sys.exit(0)
    time.sleep(0.0005)
print(json.dumps({'timeout': True}))
sys.exit(1)
'''


def test_pip_killed_after_writing_metadata_before_record_is_drift_and_the_next_run_repairs_it(
        offline_hosts, fleet_ansible, host, tools, work):
    wheel = build_wheel(os.path.join(work, 'w'), 'airgap-slow', '1.0', payload_size=96 * MiB)
    write_cache(os.path.join(work, 'cache'), [wheel], tools=[tools['pip']])
    cache = ship(offline_hosts, host, os.path.join(work, 'cache'), 'slow')
    venv = '%s/venvs/killed' % REMOTE
    fresh(offline_hosts, host, venv)
    sh(offline_hosts, host, 'python3', '-m', 'venv', '--without-pip', venv)
    dist_info = '%s/%s/airgap_slow-1.0.dist-info' % (venv, SITE)

    watcher = start_on_host(offline_hosts, host, KILL_WHEN_METADATA_IS_WRITTEN, dist_info, venv + '/bin/python')
    killed = run_module(fleet_ansible, host, cache=cache, virtualenv=venv, installer='pip')
    seen = finish(watcher)
    assert killed.get('failed') is True and seen['record_existed'] is False, (killed, seen)
    assert exists(offline_hosts, host, dist_info + '/METADATA') and not exists(offline_hosts, host, dist_info + '/RECORD')

    expected = [{'name': 'airgap-slow', 'action': 'reinstall', 'before': '1.0', 'after': '1.0'}]
    checked = run_module(fleet_ansible, host, check=True, cache=cache, virtualenv=venv, installer='pip')
    assert checked.get('failed') is not True, checked
    assert checked['changed'] is True and checked['changes'] == expected
    assert [b['name'] for b in checked['broken']] == ['airgap-slow'] and 'RECORD' in checked['broken'][0]['problem']

    repaired = run_module(fleet_ansible, host, cache=cache, virtualenv=venv, installer='pip')
    assert repaired.get('failed') is not True, repaired
    assert repaired['changed'] is True and repaired['changes'] == expected
    assert exists(offline_hosts, host, dist_info + '/RECORD')
    assert sh(offline_hosts, host, 'stat', '-c', '%s', '%s/%s/airgap_slow/payload.bin' % (venv, SITE)).strip() == str(96 * MiB)
    assert sh(offline_hosts, host, 'ls', '-A', venv).split() == sorted(['bin', 'include', 'lib', 'lib64', 'pyvenv.cfg'])
    assert run_module(fleet_ansible, host, cache=cache, virtualenv=venv, installer='pip')['changed'] is False
    # pip can uninstall it again: its RECORD is whole.
    removed = run_module(fleet_ansible, host, cache=cache, virtualenv=venv, installer='pip', state='absent')
    assert removed.get('failed') is not True and removed['changes'][0]['action'] == 'remove', removed
    assert not exists(offline_hosts, host, dist_info)


def test_files_listed_in_record_but_gone_from_disk_are_drift_and_repaired(offline_hosts, fleet_ansible, host, tools, work):
    wheel = build_wheel(os.path.join(work, 'w'), 'airgap-rec', '1.0')
    write_cache(os.path.join(work, 'cache'), [wheel], tools=[tools['pip']])
    cache = ship(offline_hosts, host, os.path.join(work, 'cache'), 'rec')
    venv = '%s/venvs/rec' % REMOTE
    fresh(offline_hosts, host, venv)
    assert run_module(fleet_ansible, host, cache=cache, virtualenv=venv)['changed'] is True
    module = '%s/%s/airgap_rec/__init__.py' % (venv, SITE)
    sh(offline_hosts, host, 'rm', module)

    checked = run_module(fleet_ansible, host, check=True, cache=cache, virtualenv=venv)
    assert checked['changes'] == [{'name': 'airgap-rec', 'action': 'reinstall', 'before': '1.0', 'after': '1.0'}], checked
    assert 'airgap_rec/__init__.py' in checked['broken'][0]['problem']
    repaired = run_module(fleet_ansible, host, cache=cache, virtualenv=venv)
    assert repaired.get('failed') is not True and repaired['changed'] is True, repaired
    assert sh(offline_hosts, host, venv + '/bin/python', '-c', 'import airgap_rec; print(airgap_rec.__version__)').strip() == '1.0'
    assert run_module(fleet_ansible, host, cache=cache, virtualenv=venv)['changed'] is False


@pytest.fixture(scope='module')
def chain_cache(offline_hosts, host, gem_source, tmp_path_factory):
    local = str(tmp_path_factory.mktemp('hardening-gems') / 'chain')
    gems = ['airgap_chain_a-1.0.0.gem', 'airgap_chain_b-1.1.0.gem', 'airgap_chain_c-0.5.0.gem']
    build_gem_cache(local, [gem_source.gems[g] for g in gems], ['airgap_chain_a'])
    return ship(offline_hosts, host, local, 'chain')


def test_gem_specification_whose_gem_directory_is_gone_is_drift_and_reinstalled(offline_hosts, fleet_ansible, host, chain_cache):
    install_dir = '%s/gems/spec-without-files' % REMOTE
    fresh(offline_hosts, host, install_dir)
    assert run_module(fleet_ansible, host, GEM, cache=chain_cache, install_dir=install_dir)['changed'] is True
    sh(offline_hosts, host, 'rm', '-rf', install_dir + '/gems/airgap_chain_c-0.5.0')

    checked = run_module(fleet_ansible, host, GEM, check=True, cache=chain_cache, install_dir=install_dir)
    assert [(c['name'], c['action']) for c in checked['changes']] == [('airgap_chain_c', 'reinstall')], checked
    repaired = run_module(fleet_ansible, host, GEM, cache=chain_cache, install_dir=install_dir)
    assert repaired.get('failed') is not True and repaired['changed'] is True, repaired
    out = sh(offline_hosts, host, 'env', 'GEM_PATH=' + install_dir, 'ruby', '-e', 'require "airgap_chain_c"; puts :loaded')
    assert out.strip() == 'loaded'
    assert run_module(fleet_ansible, host, GEM, cache=chain_cache, install_dir=install_dir)['changed'] is False


def test_gem_directory_without_its_specification_is_drift_and_installed_again(offline_hosts, fleet_ansible, host, chain_cache):
    install_dir = '%s/gems/files-without-spec' % REMOTE
    fresh(offline_hosts, host, install_dir)
    assert run_module(fleet_ansible, host, GEM, cache=chain_cache, install_dir=install_dir)['changed'] is True
    sh(offline_hosts, host, 'rm', install_dir + '/specifications/airgap_chain_c-0.5.0.gemspec')

    checked = run_module(fleet_ansible, host, GEM, check=True, cache=chain_cache, install_dir=install_dir)
    assert [(c['name'], c['action']) for c in checked['changes']] == [('airgap_chain_c', 'install')], checked
    repaired = run_module(fleet_ansible, host, GEM, cache=chain_cache, install_dir=install_dir)
    assert repaired.get('failed') is not True and repaired['changed'] is True, repaired
    assert exists(offline_hosts, host, install_dir + '/specifications/airgap_chain_c-0.5.0.gemspec')
    assert run_module(fleet_ansible, host, GEM, cache=chain_cache, install_dir=install_dir)['changed'] is False


# ---------------------------------------------------------------- 3. a cache that does not fit the environment

@pytest.mark.parametrize('foreign', ['cp39', 'aarch64', 'described-aarch64'])
def test_existing_venv_holding_the_same_versions_refuses_a_cache_for_another_interpreter(
        offline_hosts, fleet_ansible, host, tools, work, foreign):
    native = build_wheel(os.path.join(work, 'native'), 'airgap-fit', '1.0')
    write_cache(os.path.join(work, 'native-cache'), [native], tools=[tools['pip']])
    native_cache = ship(offline_hosts, host, os.path.join(work, 'native-cache'), 'fit-native')
    venv = '%s/venvs/fit-%s' % (REMOTE, foreign)
    fresh(offline_hosts, host, venv)
    assert run_module(fleet_ansible, host, cache=native_cache, virtualenv=venv)['changed'] is True

    environment = {'key': 'test-%s' % foreign}
    if foreign == 'cp39':
        tags, named = 'cp39-cp39-manylinux_2_17_x86_64', 'cp39-cp39-manylinux_2_17_x86_64'
    elif foreign == 'aarch64':
        tags, named = 'cp311-cp311-manylinux_2_17_aarch64', 'cp311-cp311-manylinux_2_17_aarch64'
    else:
        # Pure wheels fit by tags; the manifest says which interpreter the closure was resolved for.
        tags, named = 'py3-none-any', 'aarch64'
        environment.update(version='3.11', implementation='cpython', arch='aarch64',
                           tags=['cp311-cp311-manylinux_2_17_aarch64', 'py3-none-any'])
    foreign_wheel = build_wheel(os.path.join(work, 'foreign'), 'airgap-fit', '1.0', tags=tags)
    write_cache(os.path.join(work, 'foreign-cache'), [foreign_wheel], tools=[tools['pip']], environment=environment)
    foreign_cache = ship(offline_hosts, host, os.path.join(work, 'foreign-cache'), 'fit-%s' % foreign)

    for check in (True, False):
        result = run_module(fleet_ansible, host, check=check, cache=foreign_cache, virtualenv=venv)
        assert result.get('failed') is True, result
        assert named in result['msg'] and 'cp311-cp311-manylinux' in result['msg'], result['msg']
    assert versions(offline_hosts, host, venv + '/bin/python')['airgap-fit'] == '1.0'
    new_venv = venv + '-new'
    fresh(offline_hosts, host, new_venv)
    for_new = run_module(fleet_ansible, host, cache=foreign_cache, virtualenv=new_venv)
    assert for_new.get('failed') is True and named in for_new['msg'] and 'cp311-cp311-manylinux' in for_new['msg'], for_new
    assert not exists(offline_hosts, host, new_venv)


# ---------------------------------------------------------------- 6. wheels checked before any installer sees them

def test_wheel_with_a_traversal_member_is_refused_before_uv_sees_it_and_nothing_escapes(
        offline_hosts, fleet_ansible, host, tools, work):
    member = '../../../../tmp/PWNED'
    evil = build_wheel(os.path.join(work, 'w'), 'airgap-evil', '1.0', files={member: b'pwned\n'})
    write_cache(os.path.join(work, 'cache'), [evil], tools=[tools['pip'], tools['uv']])
    cache = ship(offline_hosts, host, os.path.join(work, 'cache'), 'evil')
    venv = '/hv'  # four levels above its site-packages is /
    fresh(offline_hosts, host, venv, '/tmp/PWNED')
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv, installer='uv')
    assert result.get('failed') is True, result
    assert os.path.basename(evil) in result['msg'] and member in result['msg'], result['msg']
    assert not exists(offline_hosts, host, '/tmp/PWNED')
    assert not exists(offline_hosts, host, venv)


def sdist_named_like_a_wheel(directory):
    """A real sdist (tar.gz with PKG-INFO and setup.py), renamed to a wheel's file name."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, 'airgap_fake-1.0-py3-none-any.whl')
    with tarfile.open(path, 'w:gz') as archive:
        for member, text in (('airgap_fake-1.0/PKG-INFO', 'Metadata-Version: 2.1\nName: airgap-fake\nVersion: 1.0\n'),
                             ('airgap_fake-1.0/setup.py', 'from setuptools import setup\nsetup(name="airgap-fake")\n')):
            info = tarfile.TarInfo(member)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    return path


@pytest.mark.parametrize('installer', ['pip', 'uv'])
def test_sdist_renamed_whl_is_refused_naming_the_file_and_no_virtualenv_is_left(
        offline_hosts, fleet_ansible, host, tools, work, installer):
    fake = sdist_named_like_a_wheel(os.path.join(work, 'w'))
    write_cache(os.path.join(work, 'cache'), [fake], tools=[tools['pip'], tools['uv']])
    cache = ship(offline_hosts, host, os.path.join(work, 'cache'), 'sdist-%s' % installer)
    venv = '%s/venvs/sdist-%s' % (REMOTE, installer)
    fresh(offline_hosts, host, venv)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv, installer=installer)
    assert result.get('failed') is True, result
    assert 'airgap_fake-1.0-py3-none-any.whl' in result['msg'] and 'sdist' in result['msg'], result['msg']
    assert not exists(offline_hosts, host, venv)


def test_wheel_whose_dist_info_names_another_project_is_refused_naming_the_member(
        offline_hosts, fleet_ansible, host, tools, work):
    impostor = build_wheel(os.path.join(work, 'w'), 'airgap-claims', '1.0', dist_info='airgap_other-6.6.dist-info',
                           metadata_name='airgap-other', metadata_version='6.6')
    write_cache(os.path.join(work, 'cache'), [impostor], tools=[tools['pip'], tools['uv']])
    cache = ship(offline_hosts, host, os.path.join(work, 'cache'), 'impostor')
    venv = '%s/venvs/impostor' % REMOTE
    fresh(offline_hosts, host, venv)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv, installer='uv')
    assert result.get('failed') is True, result
    assert os.path.basename(impostor) in result['msg'] and 'airgap_other-6.6.dist-info' in result['msg'], result['msg']
    assert not exists(offline_hosts, host, venv)


def test_gem_whose_specification_is_another_gem_is_refused_before_gem_runs(offline_hosts, fleet_ansible, host, work):
    built = build_gem(work, 'airgap_impostor', '6.6.6', {'lib/airgap_impostor.rb': 'module AirgapImpostor; end\n'})
    local = os.path.join(work, 'cache')
    os.makedirs(local)
    filename = 'airgap_chain_c-0.5.0.gem'
    target = os.path.join(local, filename)
    os.rename(built, target)
    artifact = Artifact(filename, 'airgap_chain_c', '0.5.0', os.path.getsize(target), sha256_file(target), 'ruby', [], 'tests')
    write_manifest(local, Manifest('ruby', {'key': 'ruby-3.1-x86_64-linux'}, [TopLevel('airgap_chain_c', 'airgap_chain_c', [])],
                                   [artifact], generator='tests'))
    cache = ship(offline_hosts, host, local, 'gem-impostor')
    install_dir = '%s/gems/impostor' % REMOTE
    fresh(offline_hosts, host, install_dir)
    result = run_module(fleet_ansible, host, GEM, cache=cache, install_dir=install_dir)
    assert result.get('failed') is True, result
    assert filename in result['msg'] and 'airgap_impostor' in result['msg'] and '6.6.6' in result['msg'], result['msg']
    assert gem_specs_in(offline_hosts, host, install_dir) == []


def gem_specs_in(fleet, host, install_dir):
    done = fleet.run(host, ['ls', install_dir + '/specifications'])
    return sorted(done.stdout.split()) if done.returncode == 0 else []


# ---------------------------------------------------------------- 5. nothing half-made on failure

def test_failed_install_into_a_new_virtualenv_leaves_no_virtualenv(offline_hosts, fleet_ansible, host, tools, work):
    needy = build_wheel(os.path.join(work, 'w'), 'airgap-needy', '1.0', requires=['airgap-nowhere'])
    write_cache(os.path.join(work, 'cache'), [needy], tools=[tools['pip']])
    cache = ship(offline_hosts, host, os.path.join(work, 'cache'), 'needy')
    venv = '%s/venvs/needy' % REMOTE
    fresh(offline_hosts, host, venv)
    result = run_module(fleet_ansible, host, cache=cache, virtualenv=venv)
    assert result.get('failed') is True and 'airgap-nowhere' in result['msg'], result
    assert not exists(offline_hosts, host, venv)


# ---------------------------------------------------------------- 4. the environment's filesystem: too small, or filling up

@pytest.fixture
def small_filesystem(offline_hosts, host, request):
    """mount(name, size): a tmpfs of that size on the host, for one test; unmounted afterwards."""
    mounted = []

    def mount(name, size):
        path = '%s/fs/%s' % (REMOTE, name)
        sh(offline_hosts, host, 'mkdir', '-p', path)
        sh(offline_hosts, host, 'mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'airgap-test-%s' % name, path)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        offline_hosts.run(host, ['umount', path])


def test_install_larger_than_the_free_space_is_refused_with_required_and_available(
        offline_hosts, fleet_ansible, host, tools, work, small_filesystem):
    big = build_wheel(os.path.join(work, 'w'), 'airgap-big', '1.0', payload_size=8 * MiB)
    write_cache(os.path.join(work, 'cache'), [big], tools=[tools['pip']])
    cache = ship(offline_hosts, host, os.path.join(work, 'cache'), 'big')
    mount = small_filesystem('small', '4m')
    venv = mount + '/venv'
    sh(offline_hosts, host, 'python3', '-m', 'venv', '--without-pip', venv)
    before = listing(offline_hosts, host, venv)

    for check in (True, False):
        result = run_module(fleet_ansible, host, check=check, cache=cache, virtualenv=venv)
        assert result.get('failed') is True, result
        assert mount in result['msg'] and 'available' in result['msg'] and 'needs' in result['msg'], result['msg']
        assert listing(offline_hosts, host, venv) == before
    space = result['space'][0]
    assert space['path'] == mount and space['required'] > 8 * MiB > space['available']

    new_venv = mount + '/new'
    assert run_module(fleet_ansible, host, cache=cache, virtualenv=new_venv).get('failed') is True
    assert not exists(offline_hosts, host, new_venv)


# Waits for pip to start writing a new dist-info, then fills the filesystem to the last byte.
FILL_WHEN_A_DIST_INFO_APPEARS = r'''
import json, os, sys, time
site, filler = sys.argv[1:3]
before = set(os.listdir(site))
print('ready', flush=True)
deadline = time.time() + 150
while time.time() < deadline:
    new = sorted(n for n in set(os.listdir(site)) - before if n.endswith('.dist-info'))
    if new:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        stat = os.statvfs(site)
        try:
            os.posix_fallocate(fd, 0, stat.f_bavail * stat.f_frsize)
        except OSError:
            pass
        try:
            while True:
                os.write(fd, b'\0' * 4096)
        except OSError:
            pass
        os.close(fd)
        print(json.dumps({'filled_when': new, 'free': os.statvfs(site).f_bavail}))
        sys.exit(0)
    time.sleep(0.0005)
print(json.dumps({'timeout': True}))
sys.exit(1)
'''


def test_disk_filling_up_mid_install_leaves_the_environment_as_it_was(
        offline_hosts, fleet_ansible, host, tools, work, small_filesystem):
    first = [build_wheel(os.path.join(work, 'w1'), 'airgap-alpha', '1.0'), build_wheel(os.path.join(work, 'w1'), 'airgap-beta', '1.0')]
    write_cache(os.path.join(work, 'c1'), first, tools=[tools['pip']])
    second = [build_wheel(os.path.join(work, 'w2'), 'airgap-alpha', '2.0', payload_size=6 * MiB),
              build_wheel(os.path.join(work, 'w2'), 'airgap-beta', '1.0'),
              build_wheel(os.path.join(work, 'w2'), 'airgap-gamma', '1.0', payload_size=6 * MiB)]
    write_cache(os.path.join(work, 'c2'), second, tools=[tools['pip']])
    cache1 = ship(offline_hosts, host, os.path.join(work, 'c1'), 'fill-1')
    cache2 = ship(offline_hosts, host, os.path.join(work, 'c2'), 'fill-2')
    mount = small_filesystem('fill', '48m')
    venv = mount + '/venv'
    assert run_module(fleet_ansible, host, cache=cache1, virtualenv=venv)['changed'] is True
    before = listing(offline_hosts, host, venv)
    held = versions(offline_hosts, host, venv + '/bin/python')

    filler = start_on_host(offline_hosts, host, FILL_WHEN_A_DIST_INFO_APPEARS, '%s/%s' % (venv, SITE), mount + '/filler')
    result = run_module(fleet_ansible, host, cache=cache2, virtualenv=venv)
    filled = finish(filler)
    assert result.get('failed') is True, (result, filled)
    assert 'No space left on device' in result['msg'] and 'restored' in result['msg'], result['msg']
    assert listing(offline_hosts, host, venv) == before
    assert versions(offline_hosts, host, venv + '/bin/python') == held

    sh(offline_hosts, host, 'rm', mount + '/filler')
    again = run_module(fleet_ansible, host, cache=cache2, virtualenv=venv)
    assert again.get('failed') is not True, again
    have = versions(offline_hosts, host, venv + '/bin/python')
    assert (have['airgap-alpha'], have['airgap-beta'], have['airgap-gamma']) == ('2.0', '1.0', '1.0')
