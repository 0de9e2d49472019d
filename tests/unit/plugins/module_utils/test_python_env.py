# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probing an interpreter without pip, the clean installer environment, and virtualenvs made by hand."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

from ansible_collections.airgap.packages.plugins.module_utils import python_env, python_probe
from ansible_collections.airgap.packages.plugins.module_utils.errors import AirgapError, InstallError


def dist_info(directory, dirname, name=None, version=None):
    path = os.path.join(str(directory), dirname)
    os.makedirs(path)
    if name:
        with open(os.path.join(path, 'METADATA'), 'w') as handle:
            handle.write('Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nLong description\nName: wrong\n' % (name, version))


def test_distributions_are_read_from_metadata_with_normalised_names(tmp_path):
    dist_info(tmp_path, 'Foo_Bar-1.0.dist-info', 'Foo.Bar', '1.0')
    dist_info(tmp_path, 'zope.interface-6.0.dist-info', 'zope.interface', '6.0')
    found = [(n, v) for n, v, _path in python_probe.distributions_in(str(tmp_path))]
    assert found == [('foo-bar', '1.0'), ('zope-interface', '6.0')]


def test_egg_info_file_and_directory_count_as_installed(tmp_path):
    (tmp_path / 'distro-1.8.0.egg-info').write_text('Metadata-Version: 1.1\nName: distro\nVersion: 1.8.0\n')
    egg_dir = tmp_path / 'six-1.16.0-py3.11.egg-info'
    egg_dir.mkdir()
    (egg_dir / 'PKG-INFO').write_text('Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n')
    assert [(n, v) for n, v, _path in python_probe.distributions_in(str(tmp_path))] == [('distro', '1.8.0'), ('six', '1.16.0')]


def test_directory_name_is_the_fallback_when_metadata_is_missing(tmp_path):
    dist_info(tmp_path, 'requests-2.31.0.dist-info')
    assert [(n, v) for n, v, _path in python_probe.distributions_in(str(tmp_path))] == [('requests', '2.31.0')]


def test_first_distribution_on_sys_path_wins_and_only_environment_ones_are_removable(tmp_path):
    env_dir, system_dir = tmp_path / 'env', tmp_path / 'system'
    dist_info(env_dir, 'six-1.17.0.dist-info', 'six', '1.17.0')
    dist_info(system_dir, 'six-1.16.0.dist-info', 'six', '1.16.0')
    dist_info(system_dir, 'distro-1.8.0.dist-info', 'distro', '1.8.0')
    found = python_probe.installed_distributions([str(env_dir), str(tmp_path / 'absent'), str(system_dir)], [str(env_dir)])
    assert [(d['name'], d['version'], d['in_environment']) for d in found] == [
        ('six', '1.17.0', True), ('distro', '1.8.0', False)]


def test_tag_report_marks_incompatible_wheels_and_ranks_the_rest():
    from ansible_collections.airgap.packages.plugins.module_utils import wheeltags
    source = python_env.module_source(wheeltags) + '\ndef supported_tags():\n    return ["cp311-cp311-linux_x86_64", "py3-none-any"]\n'
    report = python_probe.tag_report(source, ['a-1-cp311-cp311-linux_x86_64.whl', 'b-1-py3-none-any.whl',
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
