# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys with a builder: an sdist whose wheel is native becomes build inputs, and the builder's wheel joins the cache."""

import glob
import io
import json
import os
import shutil
import tarfile

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._controller.python import build_inputs, wheel_cache
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ResolutionError
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import load_manifest, sha256_file

from sources import file_index, make_wheel

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))))
INDEX_EXTRAS = os.path.join(REPO, '.cache', 'index-extras')
# Another Python than the controller's 3.11: a wheel built here does not fit it.
X86_313 = {'version': '3.13.1', 'arch': 'x86_64', 'libc': {'flavor': 'glibc', 'version': '2.36'}}
SETUP_PY = ("from setuptools import setup, Extension\n"
            "setup(name='cext', version='1.0', ext_modules=[Extension('cext', ['cext.c'])])\n")
STATIC_PKG_INFO = 'Metadata-Version: %s\nName: needslib\nVersion: 1.0\nRequires-Dist: plain\n'
C_SOURCE = ('#include <Python.h>\n'
            'static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "cext", NULL, -1, NULL};\n'
            'PyMODINIT_FUNC PyInit_cext(void) { return PyModule_Create(&m); }\n')


def write_sdist(directory, name, version, members):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, '%s-%s.tar.gz' % (name, version))
    with tarfile.open(path, 'w:gz') as archive:
        for member, text in sorted(members.items()):
            data = text.encode('utf-8')
            info = tarfile.TarInfo('%s-%s/%s' % (name, version, member))
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize('members, expected', [
    ({'pyproject.toml': '[build-system]\nrequires = ["flit_core>=3.2", "x; python_version<\'3.11\'"]\n'},
     ['flit_core>=3.2', "x; python_version<'3.11'"]),
    ({'setup.py': SETUP_PY}, ['setuptools>=40.8.0', 'wheel']),
    ({'pyproject.toml': '[tool.black]\nline-length = 99\n'}, ['setuptools>=40.8.0', 'wheel']),
    # Only the project's own pyproject.toml counts, not one of a vendored subproject.
    ({'vendor/pyproject.toml': '[build-system]\nrequires = ["nope"]\n'}, ['setuptools>=40.8.0', 'wheel']),
])
def test_build_requires_are_pep_518s_or_pips_default(tmp_path, members, expected):
    assert build_inputs.build_requires(write_sdist(str(tmp_path), 'p', '1.0', members)) == expected


@pytest.mark.parametrize('text', ['[build-system\nrequires = [', '[build-system]\nrequires = "setuptools"\n'])
def test_unreadable_build_requirements_name_the_sdist(tmp_path, text):
    with pytest.raises(ResolutionError, match='p-1.0.tar.gz'):
        build_inputs.build_requires(write_sdist(str(tmp_path), 'p', '1.0', {'pyproject.toml': text}))


@pytest.fixture
def index(tmp_path):
    """An index with a native-code sdist, an ordinary wheel, and what building needs (setuptools, wheel, pip)."""
    files = str(tmp_path / 'files')
    write_sdist(files, 'cext', '1.0', {'setup.py': SETUP_PY, 'cext.c': C_SOURCE})
    # Builds only where a library the controller lacks is installed; its dependencies are static (metadata 2.2).
    failing = 'raise SystemExit("libneeded.so not found")\n'
    write_sdist(files, 'needslib', '1.0', {'setup.py': failing, 'PKG-INFO': STATIC_PKG_INFO % '2.2'})
    write_sdist(files, 'needslib', '2.0', {'setup.py': failing, 'PKG-INFO': STATIC_PKG_INFO.replace('1.0', '2.0') % '2.1'})
    make_wheel(files, 'plain', '1.0')
    extras = [p for p in glob.glob(os.path.join(INDEX_EXTRAS, '*.whl')) if not os.path.basename(p).startswith('uv-')]
    assert len(extras) == 3, 'make venv downloads setuptools, wheel and pip into %s' % INDEX_EXTRAS
    for path in extras:
        shutil.copy(path, files)
    return {'url': file_index(str(tmp_path / 'index'), files)}


def options(tmp_path, index, requirements=('cext', 'plain'), **extra):
    return wheel_cache.Options(dest=str(tmp_path / 'cache'), requirements=list(requirements), index_url=index['url'],
                               platforms=[X86_313], **extra)


def key_of(platform):
    return wheel_cache.platform_descriptions([platform])[0]['key']


@pytest.fixture
def pending(tmp_path, index):
    """The first pass of a key with a builder: its build inputs, and no cache yet."""
    opts = options(tmp_path, index, builder_keys=[wheel_cache.platform_descriptions([X86_313])[0]['key']])
    report = wheel_cache.build_caches(opts)
    return opts, wheel_cache.module_result(report, want_diff=False)


def built_wheel(tmp_path, key):
    """A wheel as a builder of key would have built it, fetched back to the controller."""
    path = make_wheel(str(tmp_path / 'fetched'), 'cext', '1.0', tags='cp313-cp313-linux_x86_64')
    return {'key': key, 'path': path, 'sha256': sha256_file(path),
            'built_from': {'sdist': 'cext-1.0.tar.gz', 'key': key, 'host': 'builder1', 'python': '3.13.1'}}


def test_a_native_sdist_for_a_key_with_a_builder_becomes_build_inputs_and_the_cache_waits(pending):
    opts, result = pending
    key = result['caches'][0]['key']
    assert result['changed'] and result['caches'][0]['digest'] is None
    assert not os.path.exists(os.path.join(opts.dest, key, 'manifest.json')), 'a cache without cext was committed'
    [build] = result['builds']
    assert build['key'] == key and build['path'] == os.path.join(opts.dest, 'builds', key)
    assert [(s['name'], s['filename']) for s in build['sdists']] == [('cext', 'cext-1.0.tar.gz')]
    manifest = load_manifest(build['path'])
    assert manifest.inputs == {'purpose': 'build'} and manifest.digest == build['digest']
    assert manifest.environment_key == key
    assert sorted(a.name for a in manifest.artifacts) == ['cext', 'pip', 'setuptools', 'wheel']
    assert [(top.name, top.closure) for top in manifest.requirements] == [('cext', ['cext', 'pip', 'setuptools', 'wheel'])]
    for artifact in manifest.artifacts:
        assert sha256_file(os.path.join(build['path'], artifact.filename)) == artifact.sha256


def test_the_same_inputs_again_rewrite_nothing(tmp_path, index, pending):
    opts, result = pending
    before = os.stat(os.path.join(result['builds'][0]['path'], 'manifest.json'))
    again = wheel_cache.module_result(wheel_cache.build_caches(opts), want_diff=False)
    assert again['builds'] == result['builds'] and not again['changed']
    assert os.stat(os.path.join(result['builds'][0]['path'], 'manifest.json')).st_ino == before.st_ino


def test_the_builders_wheel_joins_the_cache_with_its_provenance_and_stays(tmp_path, index, pending):
    opts, result = pending
    key = result['builds'][0]['key']
    wheel = built_wheel(tmp_path, key)
    second = wheel_cache.module_result(wheel_cache.build_caches(options(tmp_path, index, built_wheels=[wheel])), False)
    assert second['changed'] and second['builds'] == []
    artifacts = dict((a.name, a) for a in load_manifest(os.path.join(opts.dest, key)).artifacts)
    assert artifacts['cext'].filename == os.path.basename(wheel['path']) and artifacts['cext'].built
    assert artifacts['cext'].built_from == wheel['built_from']
    assert 'built_from' not in artifacts['plain'].to_dict()
    # The next run, with the builders named as always, builds nothing: the cache is current.
    third = wheel_cache.module_result(wheel_cache.build_caches(opts), False)
    assert not third['changed'] and third['builds'] == []
    # A new resolution reuses the wheel from the cache and keeps its provenance.
    refreshed = options(tmp_path, index, builder_keys=[key], refresh=True)
    fourth = wheel_cache.module_result(wheel_cache.build_caches(refreshed), False)
    assert fourth['builds'] == []
    artifacts = dict((a.name, a) for a in load_manifest(os.path.join(opts.dest, key)).artifacts)
    assert artifacts['cext'].built_from == wheel['built_from']


def test_a_built_wheel_altered_on_its_way_is_refused_and_nothing_changes(tmp_path, index, pending):
    opts, result = pending
    wheel = built_wheel(tmp_path, result['builds'][0]['key'])
    with open(wheel['path'], 'ab') as handle:
        handle.write(b'\0')
    with pytest.raises(ResolutionError, match='altered or cut short') as raised:
        wheel_cache.build_caches(options(tmp_path, index, built_wheels=[wheel]))
    assert raised.value.details['file'] == wheel['path']
    assert not os.path.exists(os.path.join(opts.dest, wheel['key'], 'manifest.json'))


def test_without_a_builder_the_error_names_the_key_and_the_option(tmp_path, index):
    with pytest.raises(ResolutionError) as raised:
        wheel_cache.build_caches(options(tmp_path, index))
    key = wheel_cache.platform_descriptions([X86_313])[0]['key']
    assert 'cext 1.0 for %s' % key in raised.value.msg and 'builder_keys' in raised.value.msg
    assert json.dumps(raised.value.details['missing'])


def test_check_mode_plans_the_build_inputs_and_writes_nothing(tmp_path, index):
    opts = options(tmp_path, index, builder_keys=[key_of(X86_313)])
    result = wheel_cache.module_result(wheel_cache.build_caches(opts, check_mode=True), want_diff=False)
    assert result['changed'] and [b['key'] for b in result['builds']] == [key_of(X86_313)]
    [planned] = result['builds'][0]['sdists']
    assert result['builds'][0]['digest'] is None and (planned['name'], planned['filename']) == ('cext', 'cext-1.0.tar.gz')
    assert planned['sha256'] == sha256_file(str(tmp_path / 'files' / 'cext-1.0.tar.gz'))
    assert not os.path.exists(opts.dest)


@pytest.mark.parametrize('version, text', [('2.2', True), ('2.3', True), ('2.1', False), ('1.2', False)])
def test_static_metadata_is_pkg_info_2_2_or_newer_without_dynamic_dependencies(tmp_path, version, text):
    sdist = write_sdist(str(tmp_path), 'p', '1.0', {'PKG-INFO': STATIC_PKG_INFO % version})
    assert (build_inputs.static_metadata(sdist) is not None) is text
    dynamic = write_sdist(str(tmp_path / 'dynamic'), 'p', '1.0',
                          {'PKG-INFO': STATIC_PKG_INFO % version + 'Dynamic: Requires-Dist\n'})
    assert build_inputs.static_metadata(dynamic) is None


def test_an_sdist_that_does_not_build_here_goes_to_its_keys_builder_when_its_metadata_is_static(tmp_path, index):
    requirements = ['needslib==1.0']
    with pytest.raises(ResolutionError, match='building it to a wheel here failed'):
        wheel_cache.build_caches(options(tmp_path, index, requirements))
    result = wheel_cache.module_result(wheel_cache.build_caches(
        options(tmp_path, index, requirements, builder_keys=[key_of(X86_313)])), want_diff=False)
    [build] = result['builds']
    assert [s['filename'] for s in build['sdists']] == ['needslib-1.0.tar.gz']
    assert sorted(a.name for a in load_manifest(build['path']).artifacts) == ['needslib', 'pip', 'setuptools', 'wheel']
    # The builder's wheel completes the key's cache, with what it depends on.
    path = make_wheel(str(tmp_path / 'fetched'), 'needslib', '1.0', tags='cp313-cp313-linux_x86_64', requires=['plain'])
    wheel = {'key': build['key'], 'path': path, 'sha256': sha256_file(path), 'built_from': {'host': 'builder1'}}
    wheel_cache.build_caches(options(tmp_path, index, requirements, built_wheels=[wheel]))
    cached = load_manifest(os.path.join(str(tmp_path / 'cache'), build['key'])).artifacts
    assert sorted((a.name, a.built_from.get('host')) for a in cached) == [('needslib', 'builder1'), ('plain', None)]


def test_without_static_metadata_a_failed_build_here_fails_even_with_a_builder(tmp_path, index):
    with pytest.raises(ResolutionError, match='needslib 2.0 .*building it to a wheel here failed'):
        wheel_cache.build_caches(options(tmp_path, index, ['needslib==2.0'], builder_keys=[key_of(X86_313)]))
