# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probing an interpreter without pip, the clean installer environment, and virtualenvs made by hand."""

import os
import subprocess
import sys

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target.python import python_env

from ansible_collections.airgap.packages.plugins.module_utils._common.scripts import interpreter_probe
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError, InstallError


def dist_info(directory, dirname, name=None, version=None):
    path = os.path.join(str(directory), dirname)
    os.makedirs(path)
    if name:
        with open(os.path.join(path, 'METADATA'), 'w') as handle:
            handle.write('Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nLong description\nName: wrong\n' % (name, version))


def test_distributions_are_read_from_metadata_with_normalised_names(tmp_path):
    dist_info(tmp_path, 'Foo_Bar-1.0.dist-info', 'Foo.Bar', '1.0')
    dist_info(tmp_path, 'zope.interface-6.0.dist-info', 'zope.interface', '6.0')
    found = [(n, v) for n, v, _path in interpreter_probe.distributions_in(str(tmp_path))]
    assert found == [('foo-bar', '1.0'), ('zope-interface', '6.0')]


def test_egg_info_file_and_directory_count_as_installed(tmp_path):
    (tmp_path / 'distro-1.8.0.egg-info').write_text('Metadata-Version: 1.1\nName: distro\nVersion: 1.8.0\n')
    egg_dir = tmp_path / 'six-1.16.0-py3.11.egg-info'
    egg_dir.mkdir()
    (egg_dir / 'PKG-INFO').write_text('Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n')
    assert [(n, v) for n, v, _path in interpreter_probe.distributions_in(str(tmp_path))] == [('distro', '1.8.0'), ('six', '1.16.0')]


def test_directory_name_is_the_fallback_when_metadata_is_missing(tmp_path):
    dist_info(tmp_path, 'requests-2.31.0.dist-info')
    assert [(n, v) for n, v, _path in interpreter_probe.distributions_in(str(tmp_path))] == [('requests', '2.31.0')]


def test_first_distribution_on_sys_path_wins_and_only_environment_ones_are_removable(tmp_path):
    env_dir, system_dir = tmp_path / 'env', tmp_path / 'system'
    dist_info(env_dir, 'six-1.17.0.dist-info', 'six', '1.17.0')
    dist_info(system_dir, 'six-1.16.0.dist-info', 'six', '1.16.0')
    dist_info(system_dir, 'distro-1.8.0.dist-info', 'distro', '1.8.0')
    found = interpreter_probe.installed_distributions([str(env_dir), str(tmp_path / 'absent'), str(system_dir)], [str(env_dir)])
    assert [(d['name'], d['version'], d['in_environment']) for d in found] == [
        ('six', '1.17.0', True), ('distro', '1.8.0', False)]


def test_tag_report_marks_incompatible_wheels_and_ranks_the_rest():
    from ansible_collections.airgap.packages.plugins.module_utils._common.scripts import script_source, wheeltags
    source = script_source(wheeltags) + '\ndef supported_tags():\n    return ["cp311-cp311-linux_x86_64", "py3-none-any"]\n'
    report = interpreter_probe.tag_report(source, ['a-1-cp311-cp311-linux_x86_64.whl', 'b-1-py3-none-any.whl',
                                                   'c-1-cp39-cp39-win_amd64.whl', 'd-1.tar.gz'])
    files = report['files']
    assert (files['a-1-cp311-cp311-linux_x86_64.whl']['rank'], files['b-1-py3-none-any.whl']['rank']) == (0, 1)
    assert files['c-1-cp39-cp39-win_amd64.whl'] == {'tags': ['cp39-cp39-win_amd64'], 'compatible': False, 'rank': None}
    assert 'd-1.tar.gz' not in files
    assert report['supported_count'] == 2


def test_clean_environment_drops_pip_uv_and_python_variables():
    env = python_env.clean_environment({'PATH': '/bin', 'PIP_FIND_LINKS': '/opt/wheels', 'PIP_INDEX_URL': 'http://x',
                                        'UV_INDEX_URL': 'http://y', 'PYTHONPATH': '/evil', 'VIRTUAL_ENV': '/v'})
    assert env == {'PATH': '/bin', 'PIP_CONFIG_FILE': os.devnull, 'PYTHONNOUSERSITE': '1', 'LANG': 'C.UTF-8'}


def test_probe_of_the_real_interpreter_lists_what_it_holds(tmp_path):
    state = python_env.probe(sys.executable, python_env.Runner(), filenames=['x-1-py3-none-any.whl'], capabilities=True)
    assert state.version == '%d.%d.%d' % sys.version_info[:3]
    assert state.has_venv is True
    assert state.file_tags('x-1-py3-none-any.whl')['compatible'] is True
    assert 'pytest' in state.visible()


def test_probe_of_a_missing_interpreter_names_it(tmp_path):
    with pytest.raises(AirgapError) as caught:
        python_env.probe(str(tmp_path / 'nope'), python_env.Runner())
    assert str(tmp_path / 'nope') in caught.value.msg


def test_pep405_layout_is_a_working_virtualenv_without_the_venv_module(tmp_path):
    base = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
    runner = python_env.Runner()
    state = python_env.probe(base, runner, capabilities=True)
    state.has_venv = False  # as on an image without the venv module
    venv = str(tmp_path / 'venv')
    assert python_env.create_virtualenv(venv, base, state, runner, seed_pip_with_ensurepip=False) == 'pep405'
    inside = python_env.probe(python_env.venv_python(venv), runner)
    assert inside.in_venv and inside.prefix == venv
    assert inside.purelib.startswith(venv + os.sep)
    assert inside.distributions == []
    check = subprocess.run([python_env.venv_python(venv), '-c', 'import sys; print(sys.prefix)'], capture_output=True, text=True,
                           check=False)
    assert check.stdout.strip() == venv


def test_virtualenv_is_not_created_over_a_non_empty_directory(tmp_path):
    (tmp_path / 'venv').mkdir()
    (tmp_path / 'venv' / 'data.txt').write_text('keep me')
    state = python_env.probe(sys.executable, python_env.Runner(), capabilities=True)
    with pytest.raises(InstallError):
        python_env.create_virtualenv(str(tmp_path / 'venv'), sys.executable, state, python_env.Runner(), False)
    assert (tmp_path / 'venv' / 'data.txt').read_text() == 'keep me'


def make_venv(tmp_path):
    venv = str(tmp_path / 'venv')
    subprocess.run(['/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable, '-m', 'venv',
                    '--without-pip', venv], check=True)
    site = python_env.probe(python_env.venv_python(venv), python_env.Runner()).purelib
    dist_info(site, 'six-1.17.0.dist-info', 'six', '1.17.0')
    return venv


def test_plain_virtualenv_read_from_its_files_matches_what_its_interpreter_says(tmp_path):
    venv = make_venv(tmp_path)
    probed = python_env.probe(python_env.venv_python(venv), python_env.Runner())
    read = python_env.read_virtualenv(venv)
    assert read.visible() == probed.visible() == {'six': '1.17.0'}
    assert (read.purelib, read.version, read.python) == (probed.purelib, probed.version, probed.python)
    assert read.removable() == probed.removable()


def test_virtualenv_with_system_site_packages_must_be_probed(tmp_path):
    venv = make_venv(tmp_path)
    config = os.path.join(venv, 'pyvenv.cfg')
    with open(config) as handle:
        text = handle.read()
    with open(config, 'w') as handle:
        handle.write(text.replace('include-system-site-packages = false', 'include-system-site-packages = true'))
    assert python_env.read_virtualenv(venv) is None


def test_virtualenv_whose_interpreter_changed_version_must_be_probed(tmp_path):
    venv = make_venv(tmp_path)
    config = os.path.join(venv, 'pyvenv.cfg')
    with open(config) as handle:
        text = handle.read()
    with open(config, 'w') as handle:
        handle.write('\n'.join(line for line in text.splitlines() if not line.startswith('version')) + '\nversion = 3.99.0\n')
    assert python_env.read_virtualenv(venv) is None
    with open(config, 'w') as handle:
        handle.write(text)
    assert python_env.read_virtualenv(venv) is not None
    os.unlink(os.path.join(venv, 'bin', 'python'))
    os.symlink('/nonexistent/python3.11', os.path.join(venv, 'bin', 'python'))
    assert python_env.read_virtualenv(venv) is None


def test_tags_are_read_in_process_only_for_a_virtualenv_of_the_running_interpreter(tmp_path):
    venv = str(tmp_path / 'own')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', venv], check=True)
    wheels = ['x-1-py3-none-any.whl', 'y-1-cp27-cp27mu-manylinux1_x86_64.whl']
    state = python_env.read_state(python_env.venv_python(venv), venv, wheels)
    assert state is not None, 'a plain virtualenv of this interpreter needs no subprocess'
    probed = python_env.probe(python_env.venv_python(venv), python_env.Runner(), filenames=wheels)
    assert state.tags['files'] == probed.tags['files']
    assert python_env.read_state(python_env.venv_python(venv), venv, None).tags is None
    if os.path.realpath('/usr/bin/python3') != os.path.realpath(sys.executable):
        other = make_venv(tmp_path)
        assert python_env.read_state(python_env.venv_python(other), other, wheels) is None


def installed_dist(site, name, version, files, record=True):
    """A dist-info as an installer writes it: files {relative path: bytes}, RECORD with their hashes."""
    import base64
    import hashlib
    info = os.path.join(str(site), '%s-%s.dist-info' % (name, version))
    os.makedirs(info)
    with open(os.path.join(info, 'METADATA'), 'w') as handle:
        handle.write('Metadata-Version: 2.1\nName: %s\nVersion: %s\n' % (name, version))
    rows = []
    for relative, data in files.items():
        path = os.path.join(str(site), relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as handle:
            handle.write(data)
        encoded = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
        rows.append('%s,sha256=%s,%d' % (relative, encoded, len(data)))
    if record:
        with open(os.path.join(info, 'RECORD'), 'w') as handle:
            handle.write('\n'.join(rows + ['%s-%s.dist-info/METADATA,,' % (name, version), '%s-%s.dist-info/RECORD,,' % (name, version)])
                         + '\n')
    return info


def problems(site, check='*'):
    return dict((d['name'], d['problem']) for d in interpreter_probe.installed_distributions([str(site)], [str(site)], check))


def test_a_whole_dist_info_has_no_problem_and_compiled_files_may_be_gone(tmp_path):
    installed_dist(tmp_path, 'demo', '1.0', {'demo/__init__.py': b'x = 1\n', 'demo/__pycache__/__init__.cpython-311.pyc': b'pyc'})
    os.unlink(str(tmp_path / 'demo' / '__pycache__' / '__init__.cpython-311.pyc'))
    assert problems(tmp_path) == {'demo': None}


def test_a_dist_info_without_record_or_with_files_gone_or_resized_is_broken(tmp_path):
    installed_dist(tmp_path, 'norecord', '1.0', {'norecord/__init__.py': b''}, record=False)
    installed_dist(tmp_path, 'gone', '1.0', {'gone/__init__.py': b'', 'gone/data.txt': b'abc'})
    os.unlink(str(tmp_path / 'gone' / 'data.txt'))
    installed_dist(tmp_path, 'cut', '1.0', {'cut/payload.bin': b'0' * 1000})
    with open(str(tmp_path / 'cut' / 'payload.bin'), 'wb') as handle:
        handle.write(b'0' * 10)
    (tmp_path / 'bad-1.0.dist-info').mkdir()
    (tmp_path / 'bad-1.0.dist-info' / 'METADATA').write_text('Name: bad\nVersion: 1.0\n')
    (tmp_path / 'bad-1.0.dist-info' / 'RECORD').write_text('one,two\n')
    found = problems(tmp_path)
    assert found['norecord'] == 'RECORD is missing'
    assert found['gone'] == 'files that RECORD lists are missing: gone/data.txt'
    assert found['cut'] == 'files that RECORD lists are of another size than RECORD says: cut/payload.bin'
    assert found['bad'].startswith('RECORD is not valid')


def test_only_the_named_distributions_in_the_environment_are_checked(tmp_path):
    env_dir, system_dir = tmp_path / 'env', tmp_path / 'system'
    installed_dist(env_dir, 'mine', '1.0', {}, record=False)
    installed_dist(env_dir, 'other', '1.0', {}, record=False)
    installed_dist(system_dir, 'debian', '1.0', {}, record=False)  # Debian strips RECORD: not ours to judge
    found = interpreter_probe.installed_distributions([str(env_dir), str(system_dir)], [str(env_dir)], ['mine', 'debian'])
    assert dict((d['name'], d['problem']) for d in found) == {'mine': 'RECORD is missing', 'other': None, 'debian': None}
    assert all(d['problem'] is None for d in interpreter_probe.installed_distributions([str(env_dir)], [str(env_dir)]))


def test_a_broken_distribution_is_removed_with_the_files_it_proves_are_its_own(tmp_path):
    site = tmp_path / 'venv' / 'lib' / 'site-packages'
    files = {'demo/__init__.py': b'mine\n', 'demo/sub/mod.py': b'mine too\n', 'shared/clobbered.py': b'mine once\n',
             '../../outside.txt': b'out\n'}
    info = installed_dist(site, 'demo', '1.0', files)
    os.unlink(str(site / 'demo' / '__init__.py'))  # the damage
    (site / 'shared' / 'clobbered.py').write_bytes(b'another distribution wrote this\n')
    (site / 'demo' / 'sub' / 'unrelated.txt').write_text('not in RECORD')
    distribution = python_env.Distribution('demo', '1.0', info, True, 'files missing')
    removed = python_env.remove_broken_distribution(distribution, [str(site)])
    assert not os.path.exists(info) and not (site / 'demo' / 'sub' / 'mod.py').exists()
    assert (site / 'shared' / 'clobbered.py').read_bytes() == b'another distribution wrote this\n'
    assert (site / 'demo' / 'sub' / 'unrelated.txt').exists()
    assert (tmp_path / 'venv' / 'outside.txt').exists()  # outside the roots: never touched
    assert str(site / 'demo' / 'sub' / 'mod.py') in removed


def test_a_distribution_without_record_loses_only_its_dist_info(tmp_path):
    info = installed_dist(tmp_path, 'demo', '1.0', {'demo/__init__.py': b'x\n'}, record=False)
    python_env.remove_broken_distribution(python_env.Distribution('demo', '1.0', info, True, 'RECORD is missing'), [str(tmp_path)])
    assert not os.path.exists(info) and (tmp_path / 'demo' / '__init__.py').exists()
