# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/execution-environment.yml and the files it names say what the code needs, found from the code itself.

Without a container engine: the files must load and parse, every third-party module plugins/ imports must be in
meta/ee-requirements.txt (and nothing else), and every program the controller side runs must have a block in
meta/ee-bindep.txt (and no block may name a program the code does not run).
"""

import ast
import glob
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(REPO, 'plugins')
META = os.path.join(REPO, 'meta')
# What ansible-core provides to every plugin: never a requirement of the execution environment.
PROVIDED = frozenset(('ansible', 'ansible_collections'))
# A bindep line: a package name, then optional [profiles] (platform:dpkg, platform:rpm, !platform:..., compile, ...).
BINDEP_LINE = re.compile(r'^(?P<name>[A-Za-z0-9][A-Za-z0-9.+_-]*)(?:\s+\[(?P<profiles>!?[\w:.-]+(?:\s+!?[\w:.-]+)*)\])?$')
# A comment that opens a block of ee-bindep.txt: "# <program>: why it is needed".
BINDEP_BLOCK = re.compile(r'^#\s*(?P<program>[A-Za-z0-9][\w.+-]*):\s')
# A requirement line: a distribution name, optional extras and version specifiers.
REQUIREMENT_LINE = re.compile(r'^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([<>=!~;].*)?$')


def normalise(name):
    """PEP 503 normalised name (import names and distribution names are compared in this form)."""
    return re.sub(r'[-_.]+', '-', name).lower()


def plugin_sources(root=PLUGINS):
    return sorted(glob.glob(os.path.join(root, '**', '*.py'), recursive=True))


def _is_import_error_fallback(handler):
    names = []
    if isinstance(handler.type, ast.Tuple):
        names = [getattr(item, 'id', None) for item in handler.type.elts]
    elif handler.type is not None:
        names = [getattr(handler.type, 'id', None)]
    return 'ImportError' in names or 'ModuleNotFoundError' in names


def third_party_imports(source):
    """Top-level names of the absolute imports in source that are neither the standard library nor Ansible's.

    Imports anywhere count (lazy ones inside functions and try blocks too), except those in an
    `except ImportError:` handler: a fallback for an older Python, not a requirement.
    """
    tree = ast.parse(source)
    fallbacks = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and _is_import_error_fallback(node):
            for inner in ast.walk(node):
                fallbacks.add(id(inner))
    found = set()
    for node in ast.walk(tree):
        if id(node) in fallbacks:
            continue
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split('.')[0]
            if top not in sys.stdlib_module_names and top not in PROVIDED:
                found.add(top)
    return found


def _constant(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def programs_run(source):
    """The external programs source runs, by name: argv lists that start with a literal program and an option
    (['ssh-keygen', '-Y', ...]), get_bin_path('ruby') and shutil.which('gem') lookups, and Python modules run with
    -m ([python, '-m', 'pip', ...], reported as 'pip')."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.List) and node.elts:
            items = [_constant(item) for item in node.elts]
            first = items[0]
            if first and len(items) > 1 and items[1] and items[1].startswith('-') and re.match(r'^[\w.+-]+$', first):
                found.add(first)
            for flag, module in zip(items, items[1:]):
                if flag == '-m' and module:
                    found.add(module)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', None)
            if name in ('get_bin_path', 'which') and _constant(node.args[0]):
                found.add(_constant(node.args[0]))
    return found


def controller_sources(root=PLUGINS):
    """Files whose code runs on the controller: action and plugin_utils plugins, module_utils/_controller and
    module_utils/_common (shared by both sides), and every module that imports module_utils._controller."""
    chosen = []
    for path in plugin_sources(root):
        relative = os.path.relpath(path, root).replace(os.sep, '/')
        if relative.startswith(('action/', 'plugin_utils/', 'module_utils/_controller/', 'module_utils/_common/')):
            chosen.append(path)
        elif relative.startswith('modules/'):
            with open(path) as handle:
                if '.module_utils._controller.' in handle.read():
                    chosen.append(path)
    return chosen


def read_requirements(path):
    names = set()
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            match = REQUIREMENT_LINE.match(line)
            assert match, '%s:%d is not a requirement line: %r' % (path, number, line)
            names.add(normalise(match.group('name')))
    return names


def read_bindep(path):
    """{program: [(package, profiles), ...]} from the commented blocks of a bindep file; every line must parse."""
    blocks, program = {}, None
    with open(path) as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line:
                program = None
                continue
            if line.startswith('#'):
                opened = BINDEP_BLOCK.match(line)
                if opened:
                    program = opened.group('program')
                    blocks.setdefault(program, [])
                continue
            match = BINDEP_LINE.match(line)
            assert match, '%s:%d is not a bindep line ("name [profiles]"): %r' % (path, number, line)
            assert program, '%s:%d: %s is not under a "# <program>: why" comment' % (path, number, match.group('name'))
            blocks[program].append((match.group('name'), (match.group('profiles') or '').split()))
    return blocks


def ee_metadata():
    with open(os.path.join(META, 'execution-environment.yml')) as handle:
        return yaml.safe_load(handle)


# ---------------------------------------------------------------- the files themselves

def test_execution_environment_yml_names_both_dependency_files_and_they_exist():
    metadata = ee_metadata()
    assert metadata['version'] == 1
    assert set(metadata['dependencies']) == {'python', 'system'}
    assert metadata['dependencies'] == {'python': 'meta/ee-requirements.txt', 'system': 'meta/ee-bindep.txt'}
    for relative in metadata['dependencies'].values():
        assert os.path.isfile(os.path.join(REPO, relative)), relative


def test_the_dependency_files_are_not_left_out_of_the_collection_artifact():
    with open(os.path.join(REPO, 'galaxy.yml')) as handle:
        ignored = yaml.safe_load(handle).get('build_ignore') or []
    for relative in ['meta/execution-environment.yml'] + list(ee_metadata()['dependencies'].values()):
        assert not any(relative == pattern or relative.startswith(pattern.rstrip('/') + '/') for pattern in ignored), relative


def test_every_bindep_block_installs_on_dpkg_and_on_rpm_systems():
    for program, packages in read_bindep(os.path.join(META, 'ee-bindep.txt')).items():
        assert packages, 'the block of %s names no package' % program
        for family in ('platform:dpkg', 'platform:rpm'):
            assert any(not profiles or family in profiles for _name, profiles in packages), \
                'no package provides %s on %s systems' % (program, family)


# ---------------------------------------------------------------- the files against the code

def test_every_third_party_import_in_plugins_is_an_ee_requirement_and_every_requirement_is_imported():
    imported = {}
    for path in plugin_sources():
        with open(path) as handle:
            for name in third_party_imports(handle.read()):
                imported.setdefault(normalise(name), []).append(os.path.relpath(path, REPO))
    listed = read_requirements(os.path.join(META, 'ee-requirements.txt'))
    missing = dict((name, where) for name, where in imported.items() if name not in listed)
    assert not missing, 'imported in plugins/ but not in meta/ee-requirements.txt: %r' % missing
    unused = listed - set(imported)
    assert not unused, 'in meta/ee-requirements.txt but imported nowhere in plugins/: %s' % ', '.join(sorted(unused))


def test_every_program_the_controller_side_runs_has_a_bindep_block_and_every_block_a_program():
    run = {}
    for path in controller_sources():
        with open(path) as handle:
            for program in programs_run(handle.read()):
                run.setdefault(program, []).append(os.path.relpath(path, REPO))
    assert {'ruby', 'ssh-keygen'} <= set(run), 'the scan no longer finds the programs it must: %r' % run
    blocks = read_bindep(os.path.join(META, 'ee-bindep.txt'))
    missing = dict((program, where) for program, where in run.items() if program not in blocks)
    assert not missing, 'run on the controller side but without a block in meta/ee-bindep.txt: %r' % missing
    unused = set(blocks) - set(run)
    assert not unused, 'blocks in meta/ee-bindep.txt for programs the controller side does not run: %s' % ', '.join(sorted(unused))


# ---------------------------------------------------------------- the scanners can fail

def test_imports_found_include_lazy_ones_and_leave_out_stdlib_ansible_and_import_error_fallbacks():
    source = '\n'.join([
        'import os, json',
        'from ansible.module_utils.basic import AnsibleModule',
        'from . import sibling',
        'try:',
        '    import boto3',
        '    from botocore.config import Config',
        'except ImportError:',
        '    import legacy_fallback',
        'def lazy():',
        '    import yaml',
    ])
    assert third_party_imports(source) == {'boto3', 'botocore', 'yaml'}


def test_programs_found_from_argv_lists_bin_path_lookups_and_python_modules():
    source = '\n'.join([
        "run(['ssh-keygen', '-Y', 'sign', key])",
        "ruby = module.get_bin_path('ruby')",
        "gem = shutil.which('gem')",
        "argv = [python, '-m', 'pip', 'wheel']",
        "names = ['python', 'ruby']",
        "argv = [ruby, '-e', script]",
    ])
    assert programs_run(source) == {'ssh-keygen', 'ruby', 'gem', 'pip'}


def test_a_new_program_on_the_controller_side_would_be_found(tmp_path):
    controller = tmp_path / 'module_utils' / '_controller'
    controller.mkdir(parents=True)
    (controller / 'new.py').write_text("rc = run(['git', '--version'])\n")
    target = tmp_path / 'module_utils' / '_target'
    target.mkdir(parents=True)
    (target / 'other.py').write_text("rc = run(['uv', '--version'])\n")
    found = set()
    for path in controller_sources(str(tmp_path)):
        with open(path) as handle:
            found |= programs_run(handle.read())
    assert found == {'git'}


def test_bindep_lines_that_do_not_parse_are_refused(tmp_path):
    bad = tmp_path / 'bindep.txt'
    bad.write_text('# ruby: gems\nruby [platform:dpkg\n')
    try:
        read_bindep(str(bad))
    except AssertionError as exc:
        assert 'not a bindep line' in str(exc)
    else:
        raise AssertionError('a bindep line without its closing bracket was accepted')
