# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ruby programs under plugins/module_utils are Ruby files: warning-free, shipped in the collection
artifact, and the same program wherever they are read (the .rb file, or the copy in the ruby_programs.py
beside it that a module payload carries)."""

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common import process
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby import gem_resolver
from ansible_collections.airgap.packages.plugins.module_utils._target.ruby import gem_target

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 4)))
MODULE_UTILS = os.path.join(REPO, 'plugins', 'module_utils')
RB_FILES = sorted(glob.glob(os.path.join(MODULE_UTILS, '**', '*.rb'), recursive=True))
# (module that runs the programs, its reader, the program names it runs)
READERS = [
    (gem_resolver, gem_resolver.ruby_program, [gem_resolver.HELPER]),
    (gem_target, gem_target.ruby_program, [gem_target.PROBE, gem_target.UNINSTALL]),
]


def _generator():
    spec = importlib.util.spec_from_file_location('ruby_programs_generator', os.path.join(REPO, 'hacking', 'ruby_programs.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_program_a_module_runs_is_a_ruby_file_here():
    named = sorted(os.path.realpath(os.path.join(os.path.dirname(module.__file__), name)) for module, _read, names in READERS
                   for name in names)
    assert named == [os.path.realpath(p) for p in RB_FILES]


@pytest.mark.parametrize('path', RB_FILES, ids=[os.path.relpath(p, MODULE_UTILS) for p in RB_FILES])
def test_every_ruby_program_compiles_without_a_warning(path):
    rc, out, err = process.run([shutil.which('ruby'), '-wc', path], process.clean_environment(process.RUBY_TOOL_VARIABLES))
    assert (rc, out.strip(), err) == (0, 'Syntax OK', '')


@pytest.mark.parametrize('module, read, names', READERS, ids=[m.__name__.rpartition('.')[2] for m, _r, _n in READERS])
def test_each_module_reads_the_rb_file_itself(module, read, names):
    for name in names:
        with open(os.path.join(os.path.dirname(module.__file__), name)) as handle:
            assert read(name) == handle.read()


def test_the_module_payload_copies_of_the_ruby_programs_are_current():
    generator = _generator()
    assert generator.directories() == sorted(set(os.path.dirname(p) for p in RB_FILES))
    for directory in generator.directories():
        with open(os.path.join(directory, generator.COPY_NAME)) as handle:
            # When this fails: .venv/bin/python hacking/ruby_programs.py
            assert handle.read() == generator.render(directory), directory


def test_a_module_payload_of_py_files_only_runs_the_same_programs(tmp_path):
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
    for module, read, names in READERS:
        for name in names:
            code = ('import importlib, sys; sys.path.insert(0, sys.argv[1]); m = importlib.import_module(sys.argv[2]); '
                    'assert m.__file__.startswith(sys.argv[1]), m.__file__; sys.stdout.write(m.ruby_program(sys.argv[3]))')
            shown = subprocess.run([sys.executable, '-I', '-c', code, payload, module.__name__, name],
                                   capture_output=True, text=True, check=True).stdout
            assert shown == read(name)


def test_the_collection_artifact_ships_every_ruby_program(tmp_path):
    galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    subprocess.run([galaxy, 'collection', 'build', '--force', '--output-path', str(tmp_path), REPO], check=True, capture_output=True)
    [artifact] = glob.glob(str(tmp_path / '*.tar.gz'))
    with tarfile.open(artifact) as archive:
        members = set(archive.getnames())
    assert [os.path.relpath(p, REPO) for p in RB_FILES if os.path.relpath(p, REPO) not in members] == []
