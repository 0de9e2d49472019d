# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The airgap-fixture-scmnative fixture (tests/fixtures/python-builds): PythonIndex publishes it as one
reproducible sdist whose build needs more than setuptools (setuptools_scm, which takes the version from
PKG-INFO) and compiles a C extension. Building it here uses the test venv's setuptools and setuptools_scm
(--no-build-isolation), so that no index is needed."""

import importlib.util
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest

from sources import FIXTURES, SDIST_ONLY, PythonIndex

BUILDS = os.path.join(FIXTURES, 'python-builds')
PROJECT = 'airgap-fixture-scmnative'
# setuptools 65.5 (the test venv's) keeps the dashes of the project name in the sdist's name.
SDIST = 'airgap-fixture-scmnative-1.4.0.tar.gz'
TOP = 'airgap-fixture-scmnative-1.4.0/'
IMPORT_CHECK = 'import airgap_fixture_scmnative as m; print(m.add(2, 3), m.__version__)'


def pip_offline():
    """pip's environment with no index and no find-links of this machine's pip configuration."""
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith('PIP_'))
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1')
    return env


@pytest.fixture(scope='module')
def index(tmp_path_factory):
    assert importlib.util.find_spec('setuptools_scm'), 'setuptools_scm is missing from the test venv: run make venv'
    return PythonIndex(str(tmp_path_factory.mktemp('scmnative-index')), fixtures=BUILDS).build()


@pytest.fixture(scope='module')
def sdist(index):
    return os.path.join(index.files_dir, SDIST)


def read_members(path):
    with tarfile.open(path, 'r:gz') as archive:
        return dict((member.name, archive.extractfile(member).read() if member.isfile() else None)
                    for member in archive.getmembers())


def test_the_fixture_is_published_as_an_sdist_only(index):
    assert PROJECT in SDIST_ONLY
    assert os.listdir(index.files_dir) == [SDIST]
    with open(os.path.join(index.root, 'simple', 'index.html')) as handle:
        assert '<a href="%s/">' % PROJECT in handle.read()
    with open(os.path.join(index.root, 'simple', PROJECT, 'index.html')) as handle:
        assert '>%s</a>' % SDIST in handle.read()


def test_the_sdist_carries_its_version_build_requirements_and_c_source(sdist):
    members = read_members(sdist)
    for name in ('PKG-INFO', 'pyproject.toml', 'setup.py', 'src/airgap_fixture_scmnative/__init__.py',
                 'src/airgap_fixture_scmnative/_native.c'):
        assert TOP + name in members, name
    pkg_info = members[TOP + 'PKG-INFO'].decode().splitlines()
    assert 'Name: airgap-fixture-scmnative' in pkg_info
    assert 'Version: 1.4.0' in pkg_info
    assert 'Requires-Python: >=3.8' in pkg_info
    assert not [line for line in pkg_info if line.startswith('Requires-Dist:')]
    pyproject = tomllib.loads(members[TOP + 'pyproject.toml'].decode())
    assert pyproject['build-system']['requires'] == ['setuptools>=64', 'setuptools_scm>=8']
    assert pyproject['project']['dynamic'] == ['version']
    assert 'version' not in pyproject['project']
    assert pyproject['tool']['setuptools_scm']['fallback_version'] == '1.4.0'
    assert b'PyInit__native' in members[TOP + 'src/airgap_fixture_scmnative/_native.c']


def test_the_sdist_is_reproducible(sdist, tmp_path):
    again = PythonIndex(str(tmp_path), fixtures=BUILDS).build()
    with open(sdist, 'rb') as first, open(os.path.join(again.files_dir, SDIST), 'rb') as second:
        assert first.read() == second.read()


def test_the_sdist_builds_offline_to_a_wheel_whose_extension_imports(sdist, tmp_path):
    wheels = tmp_path / 'wheels'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-build-isolation', '--no-index', '--no-deps',
                    '--no-cache-dir', '-w', str(wheels), sdist], check=True, env=pip_offline(), cwd=str(tmp_path))
    built = os.listdir(str(wheels))
    tag = 'cp%d%d' % sys.version_info[:2]
    assert len(built) == 1 and built[0].startswith('airgap_fixture_scmnative-1.4.0-%s-%s-' % (tag, tag)), built
    with zipfile.ZipFile(str(wheels / built[0])) as wheel:
        names = wheel.namelist()
    assert [name for name in names if name.startswith('airgap_fixture_scmnative/_native.') and name.endswith('.so')]
    assert not [name for name in names if name.endswith('.c')]
    target = tmp_path / 'target'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--target', str(target),
                    str(wheels / built[0])], check=True, env=pip_offline())
    result = subprocess.run([sys.executable, '-c', IMPORT_CHECK], cwd=str(tmp_path), capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(target)), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '5 1.4.0'
