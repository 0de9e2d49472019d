# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building the sdists of a build-input cache with real pip, offline: placement, reuse, provenance, and every refusal
that comes before a build."""

import io
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target.python import wheel_build

from ansible_collections.airgap.packages.plugins.module_utils._common import platform_info
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import (
    AirgapError, InstallError, ManifestError, VerificationError)
from ansible_collections.airgap.packages.plugins.module_utils._common.fsutil import lock_path
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact, Manifest, TopLevel, sha256_file, write_manifest)
from ansible_collections.airgap.packages.plugins.module_utils._common.scripts import wheeltags

from runner import REPO

INDEX_EXTRAS = os.path.join(REPO, '.cache', 'index-extras')
BUILD_TOOLS = ('pip-26.3-py3-none-any.whl', 'setuptools-65.5.0-py3-none-any.whl', 'wheel-0.45.1-py3-none-any.whl')
PYPROJECT = '[build-system]\nrequires = [%s]\nbuild-backend = "setuptools.build_meta"\n'
SETUP_PY = "from setuptools import Extension, setup\nsetup(name='demo', version='1.0', ext_modules=[Extension('demo', ['src.c'])])\n"
SOURCE_C = r'''#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "demo", NULL, -1, methods};
PyMODINIT_FUNC PyInit_demo(void) { return PyModule_Create(&module); }
'''


def sdist_bytes(requires='"setuptools"'):
    """demo 1.0 as an sdist: a setuptools project with one C extension module, demo.answer() == 42."""
    files = {'PKG-INFO': 'Metadata-Version: 1.1\nName: demo\nVersion: 1.0\n', 'pyproject.toml': PYPROJECT % requires,
             'setup.py': SETUP_PY, 'src.c': SOURCE_C}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:gz') as archive:
        for name, text in sorted(files.items()):
            data = text.encode('utf-8')
            info = tarfile.TarInfo('demo-1.0/%s' % name)
            info.size, info.mtime = len(data), 315532800
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def artifact(cache, filename, name, version, content=None):
    path = os.path.join(cache, filename)
    if content is None:
        shutil.copy(os.path.join(INDEX_EXTRAS, filename), path)
    else:
        with open(path, 'wb') as handle:
            handle.write(content)
    return Artifact(filename, name, version, os.path.getsize(path), sha256_file(path))


def make_inputs(cache, tools=BUILD_TOOLS, closure=('setuptools', 'wheel'), environment=None, purpose='build', requires='"setuptools"'):
    """A build-input cache for the running interpreter's key: the demo sdist and the build tools' wheels."""
    cache = str(cache)
    os.makedirs(cache)
    artifacts = [artifact(cache, 'demo-1.0.tar.gz', 'demo', '1.0', sdist_bytes(requires))]
    artifacts += [artifact(cache, filename, *filename.split('-')[:2]) for filename in tools]
    environment = environment or platform_info.describe_running_python()
    manifest = Manifest('python', environment, [TopLevel('demo==1.0', 'demo', closure)], artifacts,
                        inputs={'purpose': purpose} if purpose else {'requirements': ['demo==1.0']})
    write_manifest(cache, manifest)
    return cache


@pytest.fixture
def no_pip(monkeypatch):
    """Fails the test when pip wheel runs; the argv of every other command is kept in the list it returns."""
    commands = []
    run = wheel_build.process.run

    def guarded(argv, env, data=None, cwd=None):
        assert 'wheel' not in argv[2:3], 'pip ran: %r' % (argv,)
        commands.append(argv)
        return run(argv, env, data, cwd)
    monkeypatch.setattr(wheel_build.process, 'run', guarded)
    return commands


@pytest.fixture(scope='module')
def built(private_tmp_root):
    """One real build of demo 1.0, shared: (inputs, dest, result)."""
    root = tempfile.mkdtemp(prefix='wheel-build-', dir=private_tmp_root)
    inputs = make_inputs(os.path.join(root, 'inputs'))
    dest = os.path.join(root, 'wheels')
    return inputs, dest, wheel_build.build_staged(inputs, dest)


def test_a_build_places_a_fitting_wheel_with_its_record_and_provenance(built, tmp_path):
    inputs, dest, result = built
    description = platform_info.describe_running_python()
    assert result['changed'] is True and result['key'] == description['key']
    [entry] = result['wheels']
    sdist_sha256 = sha256_file(os.path.join(inputs, 'demo-1.0.tar.gz'))
    assert (entry['name'], entry['version']) == ('demo', '1.0')
    assert entry['path'] == os.path.join(dest, sdist_sha256, entry['filename'])
    assert (entry['sha256'], entry['size']) == (sha256_file(entry['path']), os.path.getsize(entry['path']))
    assert wheeltags.wheel_file_tags(entry['filename']) & set(description['tags'])
    assert not wheeltags.is_pure_wheel(entry['filename'])
    with open(os.path.join(dest, sdist_sha256, 'built.json')) as handle:
        assert json.load(handle) == entry
    assert sorted(os.listdir(dest)) == [sdist_sha256]
    provenance = entry['built_from']
    glibc = os.confstr('CS_GNU_LIBC_VERSION').split(' ')[1]
    assert dict(provenance, compiler=None) == {'sdist': 'demo-1.0.tar.gz', 'sdist_sha256': sdist_sha256, 'key': description['key'],
                                               'python': platform.python_version(), 'glibc': glibc, 'compiler': None}
    assert provenance['compiler'].strip()
    with zipfile.ZipFile(entry['path']) as archive:
        # SOURCE_DATE_EPOCH reached the backend: every member carries 1980-01-01.
        assert set(info.date_time[:3] for info in archive.infolist()) == set([(1980, 1, 1)])
        archive.extractall(str(tmp_path))
    script = 'import sys; sys.path.insert(0, %r); import demo; print(demo.__file__, demo.answer())' % str(tmp_path)
    location, answer = subprocess.check_output([sys.executable, '-I', '-c', script]).decode().split()
    assert location.startswith(str(tmp_path)) and answer == '42'


def test_a_second_run_reuses_the_recorded_wheel_without_pip_and_clears_leftovers(built, no_pip):
    inputs, dest, first = built
    before = os.stat(first['wheels'][0]['path'])
    os.mkdir(os.path.join(dest, wheel_build.WORK_PREFIX + 'killed'))
    again = wheel_build.build_staged(inputs, dest)
    assert again == dict(first, changed=False)
    after = os.stat(first['wheels'][0]['path'])
    assert (after.st_ino, after.st_ctime_ns) == (before.st_ino, before.st_ctime_ns)
    assert sorted(os.listdir(dest)) == [first['wheels'][0]['built_from']['sdist_sha256']]
    assert wheel_build.build_staged(inputs, dest, check_mode=True) == again


def test_a_recorded_wheel_that_was_altered_is_rebuilt(built, tmp_path, change_in_place):
    inputs, dest, first = built
    copy = str(tmp_path / 'wheels')
    shutil.copytree(dest, copy)
    entry = first['wheels'][0]
    altered = os.path.join(copy, entry['built_from']['sdist_sha256'], entry['filename'])
    change_in_place(altered)
    result = wheel_build.build_staged(inputs, copy)
    assert result['changed'] is True
    assert result['wheels'][0]['path'] == altered and result['wheels'][0]['sha256'] == sha256_file(altered)


def test_an_altered_sdist_is_refused_before_anything_runs(tmp_path, change_in_place, monkeypatch):
    inputs = make_inputs(tmp_path / 'inputs')
    change_in_place(os.path.join(inputs, 'demo-1.0.tar.gz'))
    monkeypatch.setattr(wheel_build.process, 'run', lambda *args, **kwargs: pytest.fail('ran %r' % (args,)))
    with pytest.raises(VerificationError, match='demo-1.0.tar.gz: sha256 .* altered'):
        wheel_build.build_staged(inputs, str(tmp_path / 'wheels'))
    assert not (tmp_path / 'wheels').exists()


def without_headers(monkeypatch, tmp_path):
    """The build interpreter's include directory is an empty one: its Python.h is missing."""
    probe = wheel_build.probe
    monkeypatch.setattr(wheel_build, 'probe', lambda python, env: dict(probe(python, env), include=str(tmp_path)))
    return 'needs the Python headers, but %s has no Python.h' % tmp_path


def without_compiler_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv('PATH', str(tmp_path))
    monkeypatch.delenv('CC', raising=False)
    return 'needs a C compiler, but %s is not found on PATH' % (sysconfig.get_config_var('CC') or 'cc').split()[0]


def with_cc_naming_no_program(monkeypatch, tmp_path):
    monkeypatch.setenv('CC', 'airgap-no-such-cc -O2')
    return 'needs a C compiler, but airgap-no-such-cc is not found on PATH'


@pytest.mark.parametrize('lack', [without_compiler_on_path, with_cc_naming_no_program, without_headers])
def test_a_missing_compiler_or_header_is_named_with_the_package_before_any_build(tmp_path, monkeypatch, no_pip, lack):
    inputs = make_inputs(tmp_path / 'inputs')
    (tmp_path / 'empty').mkdir()
    expected = lack(monkeypatch, tmp_path / 'empty')
    with pytest.raises(AirgapError) as caught:
        wheel_build.build_staged(inputs, str(tmp_path / 'wheels'))
    assert 'demo 1.0 has native sources (demo-1.0/src.c) and %s' % expected in caught.value.msg
    assert 'apt-get install build-essential python3-dev' in caught.value.msg
    assert [p['package'] for p in caught.value.details['problems']] == ['demo']
    assert not (tmp_path / 'wheels').exists() and len(no_pip) == 1  # the probe only


def test_an_absent_build_dependency_of_the_closure_and_an_absent_wheel_wheel_are_named(tmp_path, no_pip):
    inputs = make_inputs(tmp_path / 'inputs', tools=BUILD_TOOLS[:2], closure=('setuptools', 'setuptools-scm', 'wheel'))
    with pytest.raises(AirgapError) as caught:
        wheel_build.build_staged(inputs, str(tmp_path / 'wheels'))
    assert 'no wheel wheel' in caught.value.msg
    assert 'demo 1.0 needs the build dependencies setuptools-scm, wheel, which are not among the wheels' in caught.value.msg
    assert not (tmp_path / 'wheels').exists()


def test_a_build_dependency_the_backend_asks_for_beyond_the_closure_is_named(tmp_path):
    inputs = make_inputs(tmp_path / 'inputs', requires='"setuptools", "Flit_Core>=3"')
    with pytest.raises(InstallError, match='build dependency flit-core of demo 1.0 is not among the build inputs'):
        wheel_build.build_staged(inputs, str(tmp_path / 'wheels'))
    assert os.listdir(str(tmp_path / 'wheels')) == []


def test_a_built_wheel_that_does_not_fit_the_interpreter_is_refused_and_not_placed(tmp_path, monkeypatch):
    inputs = make_inputs(tmp_path / 'inputs')
    probe = wheel_build.probe

    def pure_only(python, env):
        found = probe(python, env)
        return dict(found, description=dict(found['description'], tags=['py3-none-any']))
    monkeypatch.setattr(wheel_build, 'probe', pure_only)
    with pytest.raises(VerificationError, match=r'the wheel demo-1\.0-cp3\d+-cp3\d+-linux_\w+\.whl built from demo-1\.0\.tar\.gz '
                                                'does not fit the key'):
        wheel_build.build_staged(inputs, str(tmp_path / 'wheels'))
    assert os.listdir(str(tmp_path / 'wheels')) == []


def test_a_builder_of_another_key_is_refused_naming_both_keys(tmp_path, no_pip):
    other = platform_info.complete_python_description({'version': '3.9.2', 'arch': 'x86_64',
                                                       'libc': {'flavor': 'glibc', 'version': '2.31'}})
    inputs = make_inputs(tmp_path / 'inputs', environment=other)
    mine = platform_info.describe_running_python()['key']
    with pytest.raises(VerificationError) as caught:
        wheel_build.build_staged(inputs, str(tmp_path / 'wheels'))
    assert "this builder's Python %s is of key %s" % (sys.executable, mine) in caught.value.msg
    assert 'are for key %s: name a builder of key %s' % (other['key'], other['key']) in caught.value.msg
    assert caught.value.details == {'builder_key': mine, 'build_inputs_key': other['key']}


def test_a_cache_that_is_not_for_building_is_refused(tmp_path, no_pip):
    inputs = make_inputs(tmp_path / 'inputs', purpose=None)
    with pytest.raises(ManifestError, match='not a build-input cache.*builder_keys'):
        wheel_build.build_staged(inputs, str(tmp_path / 'wheels'))
    assert no_pip == []


def test_check_mode_writes_nothing_and_reports_what_would_be_built(tmp_path, no_pip):
    inputs = make_inputs(tmp_path / 'inputs')
    dest = str(tmp_path / 'wheels')
    result = wheel_build.build_staged(inputs, dest, check_mode=True)
    assert result['changed'] is True
    [entry] = result['wheels']
    assert sorted(entry) == ['built_from', 'name', 'version'] and entry['built_from']['sdist'] == 'demo-1.0.tar.gz'
    assert not os.path.exists(dest) and not os.path.exists(lock_path(dest))


def test_another_interpreter_describes_itself_through_the_probe(monkeypatch):
    monkeypatch.setattr(wheel_build.python_env, 'same_interpreter', lambda python: False)
    found = wheel_build.probe(sys.executable, wheel_build.python_env.clean_environment())
    assert found['description']['key'] == platform_info.describe_running_python()['key']
    assert found['version'] == platform.python_version()
