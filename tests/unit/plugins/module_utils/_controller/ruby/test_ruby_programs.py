# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ruby programs under plugins/module_utils/_controller/ are Ruby files: warning-free, shipped in the
collection artifact, and the same program wherever gem_resolver reads them (the .rb file, or the copy in
ruby_programs.py that a module payload carries)."""

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common import process
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby import gem_resolver, ruby_programs

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 6)))
CONTROLLER = os.path.join(REPO, 'plugins', 'module_utils', '_controller')
RUBY_DIR = os.path.join(CONTROLLER, 'ruby')
RB_FILES = sorted(glob.glob(os.path.join(CONTROLLER, '**', '*.rb'), recursive=True))


def test_the_controller_side_has_ruby_programs():
    assert os.path.join(RUBY_DIR, gem_resolver.HELPER) in RB_FILES


@pytest.mark.parametrize('path', RB_FILES, ids=[os.path.relpath(p, CONTROLLER) for p in RB_FILES])
def test_every_ruby_program_compiles_without_a_warning(path):
    rc, out, err = process.run([shutil.which('ruby'), '-wc', path], process.clean_environment(process.RUBY_TOOL_VARIABLES))
    assert (rc, out.strip(), err) == (0, 'Syntax OK', '')


def test_gem_resolver_reads_the_rb_file_itself():
    with open(os.path.join(RUBY_DIR, gem_resolver.HELPER)) as handle:
        assert gem_resolver.ruby_program(gem_resolver.HELPER) == handle.read()


def test_the_module_payload_copy_of_the_ruby_programs_is_current():
    with open(ruby_programs.__file__) as handle:
        current = handle.read()
    # When this fails: python plugins/module_utils/_controller/ruby/ruby_programs.py
    assert ruby_programs.render(RUBY_DIR) == current
    expected = {}
    for path in glob.glob(os.path.join(RUBY_DIR, '*.rb')):
        with open(path) as handle:
            expected[os.path.basename(path)] = handle.read()
    assert ruby_programs.PROGRAMS == expected


def test_a_module_payload_of_py_files_only_runs_the_same_helper(tmp_path):
    """As Ansible runs a module: from a zip of the .py files it imports, without the .rb files."""
    payload = str(tmp_path / 'payload.zip')
    package_root = os.path.join('ansible_collections', 'airgap', 'packages')
    members = {}
    for path in glob.glob(os.path.join(REPO, 'plugins', '**', '*.py'), recursive=True):
        members[os.path.join(package_root, os.path.relpath(path, REPO))] = path
    with zipfile.ZipFile(payload, 'w') as archive:
        for name, path in sorted(members.items()):
            archive.write(path, name)
        # Every package level has an __init__.py there, as in Ansible's payloads.
        for directory in sorted(set(os.path.dirname(n) for n in members) | set(['ansible_collections', 'ansible_collections/airgap'])):
            while directory:
                if os.path.join(directory, '__init__.py') not in archive.namelist():
                    archive.writestr(os.path.join(directory, '__init__.py'), '')
                directory = os.path.dirname(directory)
        assert not [n for n in archive.namelist() if n.endswith('.rb')]
    code = ('import sys; sys.path.insert(0, sys.argv[1]); '
            'from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby import gem_resolver as g; '
            'assert g.__file__.startswith(sys.argv[1]), g.__file__; sys.stdout.write(g.ruby_program(g.HELPER))')
    shown = subprocess.run([sys.executable, '-I', '-c', code, payload], capture_output=True, text=True, check=True).stdout
    assert shown == gem_resolver.ruby_program(gem_resolver.HELPER)


def test_the_collection_artifact_ships_every_ruby_program(tmp_path):
    galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    subprocess.run([galaxy, 'collection', 'build', '--force', '--output-path', str(tmp_path), REPO], check=True, capture_output=True)
    [artifact] = glob.glob(str(tmp_path / '*.tar.gz'))
    with tarfile.open(artifact) as archive:
        members = set(archive.getnames())
    assert [os.path.relpath(p, REPO) for p in RB_FILES if os.path.relpath(p, REPO) not in members] == []
