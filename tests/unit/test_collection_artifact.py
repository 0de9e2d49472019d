# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built collection artifact holds the collection and none of the working tree's by-products.

The build runs on a copy of the working tree in a private temporary directory, with one file planted in each
by-product directory, so that the test writes nothing into the working tree and every by-product is there to leak.
"""

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BY_PRODUCTS = ('.venv/', '.cache/', 'build/', 'collections/', 'tests/output/', '.git/', '__pycache__/', '.pytest_cache/')
# Planted in the copy; each lies inside one of BY_PRODUCTS.
PLANTED = ('.venv/bin/python', '.cache/index-extras/x.whl', 'build/collections/x', 'collections/ansible_collections/x',
           'tests/output/artifact-probe.txt', '.git/HEAD', 'plugins/modules/__pycache__/x.cpython-311.pyc',
           'tests/unit/.pytest_cache/README.md')


def source_modules():
    """Every module of the working tree, so that a new one cannot be left out of the check."""
    return sorted(os.path.splitext(os.path.basename(path))[0] for path in glob.glob(os.path.join(REPO, 'plugins', 'modules', '*.py'))
                  if os.path.basename(path) != '__init__.py')


def source_plugin_files():
    """Every Python file under plugins/ (modules, action plugins, module_utils, ...), relative to the collection."""
    found = []
    for top, dirs, files in os.walk(os.path.join(REPO, 'plugins')):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        found.extend(os.path.relpath(os.path.join(top, name), REPO) for name in files if name.endswith('.py'))
    return sorted(found)


@pytest.fixture(scope='module')
def artifact_members(private_tmp_root):
    work = tempfile.mkdtemp(prefix='artifact-', dir=private_tmp_root)
    tree = os.path.join(work, 'packages')
    shutil.copytree(REPO, tree, symlinks=True, ignore=shutil.ignore_patterns(
        '.git', '.venv', '.cache', 'build', 'collections', 'output', '__pycache__', '.pytest_cache', '*.tar.gz'))
    for planted in PLANTED:
        path = os.path.join(tree, planted)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write('working tree by-product that must not be packaged\n')
    destination = os.path.join(work, 'dist')
    galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    subprocess.run([galaxy, 'collection', 'build', '--output-path', destination, tree], check=True, capture_output=True)
    built = glob.glob(os.path.join(destination, 'airgap-packages-*.tar.gz'))
    assert len(built) == 1, built
    with tarfile.open(built[0]) as archive:
        return archive.getnames()


def test_every_module_of_the_working_tree_is_found():
    modules = source_modules()
    assert {'platform_facts', 'host_state', 'wheel_cache', 'gem_cache', 'pip_offline', 'gem_offline', 'ship_cache'} <= set(modules)


def test_artifact_contains_every_module_the_role_and_the_playbooks(artifact_members):
    missing = ['plugins/modules/%s.py' % module for module in source_modules() if 'plugins/modules/%s.py' % module not in artifact_members]
    assert missing == []
    assert 'plugins/action/ship_cache.py' in artifact_members
    assert 'roles/offline_install/meta/argument_specs.yml' in artifact_members
    for playbook in ('build', 'install', 'site', 'describe'):
        assert 'playbooks/%s.yml' % playbook in artifact_members
    assert 'meta/runtime.yml' in artifact_members and 'LICENSE' in artifact_members


def test_artifact_contains_every_python_file_under_plugins(artifact_members):
    assert [path for path in source_plugin_files() if path not in artifact_members] == []


def test_artifact_holds_no_test_output_virtualenv_or_cache(artifact_members):
    assert all(any(planted.startswith(part) or '/' + part in planted for part in BY_PRODUCTS) for planted in PLANTED)
    leaked = [name for name in artifact_members if any(part in name + '/' for part in BY_PRODUCTS)]
    assert leaked == []
