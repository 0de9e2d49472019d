# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target code imports only the standard library, and each side imports only what it may (docs/architecture.md).

Every file under module_utils/_target/ and module_utils/_common/ is imported in a fresh interpreter in which the
controller's libraries cannot be imported, as on a target that lacks them. The tree is walked, so a new file is
covered without touching this test. Then the imports of each file are read with ast: _common/ imports nothing from
_target/ or _controller/, and _target/ nothing from _controller/.
"""

import ast
import json
import os
import subprocess
import sys

import pytest

from runner import REPO, collections_root

MODULE_UTILS = os.path.join(REPO, 'plugins', 'module_utils')
PACKAGE = 'ansible_collections.airgap.packages.plugins.module_utils'
TARGET_SIDES = ('_common', '_target')
# Installed in the controller's test venv, absent from a target's standard library.
BLOCKED = ('packaging', 'resolvelib', 'yaml', 'jinja2', 'boto3', 'botocore')
# What each side must not import from.
FORBIDDEN = {'_common': ('_target', '_controller'), '_target': ('_controller',)}

# Runs in the fresh interpreter: argv[1] is a JSON list of [path, module name]; prints {path: error or null}.
CHILD = r'''
import importlib, json, sys, traceback

BLOCKED = %(blocked)r


class Blocker:
    """Refuses the controller's libraries, as a target without them would."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split('.')[0] in BLOCKED:
            raise ImportError('import of %%s is blocked: not in the standard library' %% fullname, name=fullname)
        return None


already = sorted(name for name in sys.modules if name.split('.')[0] in BLOCKED)
sys.meta_path.insert(0, Blocker())
sys.path.insert(0, %(root)r)
errors = {}
for path, name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
        errors[path] = None
    except BaseException:
        errors[path] = traceback.format_exc(limit=-3)
loaded_after = sorted(name for name in sys.modules if name.split('.')[0] in BLOCKED)
refused = []
for name in BLOCKED:
    try:
        importlib.import_module(name)
    except ImportError:
        refused.append(name)
print(json.dumps({'errors': errors, 'loaded_before': already, 'loaded_after': loaded_after, 'refused': refused}))
'''


def side_files():
    """(path relative to module_utils, module name) of every Python file under the sides that run on targets."""
    found = []
    for side in TARGET_SIDES:
        for top, dirs, files in os.walk(os.path.join(MODULE_UTILS, side)):
            dirs[:] = sorted(d for d in dirs if d != '__pycache__')
            for filename in sorted(files):
                if filename.endswith('.py'):
                    relative = os.path.relpath(os.path.join(top, filename), MODULE_UTILS)
                    found.append((relative, module_name(relative)))
    return found


def module_name(relative):
    """The dotted name Ansible imports a module_utils file under: the package itself for an __init__.py."""
    parts = relative[:-len('.py')].split(os.sep)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join([PACKAGE] + parts)


FILES = side_files()


@pytest.fixture(scope='module')
def imported():
    """What a fresh, isolated interpreter with the blocked libraries refused says when importing every file."""
    child = CHILD % {'blocked': BLOCKED, 'root': collections_root()}
    completed = subprocess.run([sys.executable, '-I', '-c', child, json.dumps(FILES)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               check=False)
    assert completed.returncode == 0, completed.stderr.decode()
    return json.loads(completed.stdout)


def test_the_walk_finds_the_files_of_both_sides_and_the_scripts():
    paths = [path for path, _name in FILES]
    for expected in ('_common/store_s3.py', '_common/scripts/wheeltags.py', '_common/scripts/interpreter_probe.py',
                     '_target/platform_facts.py', '_target/python/pip_offline.py', '_target/ruby/gem_plan.py'):
        assert expected.replace('/', os.sep) in paths
    assert not any(path.startswith('_controller') for path in paths)


def test_the_blocked_libraries_were_really_refused(imported):
    # Nothing loaded them before the blocker went in (a .pth file could), nothing got past it, and each, installed in
    # the test venv, was refused when asked for directly.
    assert imported['loaded_before'] == [] and imported['loaded_after'] == []
    assert imported['refused'] == list(BLOCKED)


def test_every_target_file_imports_with_the_standard_library_alone(imported):
    assert sorted(imported['errors']) == sorted(path for path, _name in FILES)
    failed = dict((path, error) for path, error in imported['errors'].items() if error)
    assert not failed, 'cannot be imported without %s:\n%s' % (
        ', '.join(BLOCKED), '\n'.join('%s: %s\n%s' % (path, error.strip().splitlines()[-1], error) for path, error in sorted(failed.items())))


def imported_modules(relative):
    """Every module name a file imports (relative imports resolved), with the line it appears on.

    For `from X import a`, both X and X.a are given: a may be a submodule.
    """
    with open(os.path.join(MODULE_UTILS, relative), 'rb') as handle:
        tree = ast.parse(handle.read(), filename=relative)
    package = module_name(relative).split('.')
    if not relative.endswith('__init__.py'):
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level <= len(package), '%s:%d climbs above the top package' % (relative, node.lineno)
                base = package[:len(package) - node.level + 1]
                base = '.'.join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            found.append((base, node.lineno))
            found.extend(('%s.%s' % (base, alias.name), node.lineno) for alias in node.names if alias.name != '*')
    return found


def test_relative_imports_are_resolved_against_the_package_of_the_file():
    modules = dict(imported_modules(os.path.join('_target', 'ruby', 'gem_plan.py')))
    assert PACKAGE + '._common.errors' in modules and PACKAGE + '._target.plans' in modules
    assert PACKAGE + '._target.plans.Change' in modules  # a name, not a module: harmless for the rule below


@pytest.mark.parametrize('side', sorted(FORBIDDEN))
def test_each_side_imports_nothing_from_the_sides_it_must_not_depend_on(side):
    forbidden = tuple('%s.%s' % (PACKAGE, other) for other in FORBIDDEN[side])
    offences = []
    for relative, _name in FILES:
        if relative.split(os.sep)[0] != side:
            continue
        for module, line in imported_modules(relative):
            if any(module == prefix or module.startswith(prefix + '.') for prefix in forbidden):
                offences.append('%s:%d imports %s' % (relative, line, module))
    assert offences == [], '%s/ may not import from %s/:\n%s' % (side, '/, '.join(FORBIDDEN[side]), '\n'.join(offences))
