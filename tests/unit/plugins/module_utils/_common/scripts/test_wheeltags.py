# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import json
import subprocess
import sys

import pytest
from packaging import tags as packaging_tags

from ansible_collections.airgap.packages.plugins.module_utils._common.scripts import wheeltags


def test_compressed_tag_set_expands_to_every_combination():
    assert wheeltags.wheel_file_tags('six-1.16.0-py2.py3-none-any.whl') == {'py2-none-any', 'py3-none-any'}
    assert wheeltags.wheel_file_tags(
        'PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl') == {
        'cp311-cp311-manylinux_2_17_x86_64', 'cp311-cp311-manylinux2014_x86_64'}


def test_build_tag_is_not_mistaken_for_a_tag():
    name, version, build, tags = wheeltags.parse_wheel_filename('pkg-1.0-1b-py3-none-any.whl')
    assert (name, version, build, tags) == ('pkg', '1.0', '1b', {'py3-none-any'})


def test_non_wheel_file_name_is_rejected():
    with pytest.raises(ValueError):
        wheeltags.wheel_file_tags('pkg-1.0.tar.gz')


def test_incompatible_wheels_lists_only_wheels_that_fit_no_tag_with_their_tags():
    supported = ['cp311-cp311-manylinux_2_17_x86_64', 'py3-none-any']
    found = wheeltags.incompatible_wheels(
        ['a-1-py3-none-any.whl', 'b-1-cp39-cp39-manylinux_2_17_aarch64.whl', 'c-1-cp311-cp311-manylinux_2_17_x86_64.whl'],
        supported)
    assert found == [('b-1-cp39-cp39-manylinux_2_17_aarch64.whl', ['cp39-cp39-manylinux_2_17_aarch64'])]


def test_best_tag_rank_prefers_the_most_specific_tag():
    supported = ['cp311-cp311-manylinux_2_28_x86_64', 'cp311-cp311-manylinux_2_17_x86_64', 'py3-none-any']
    assert wheeltags.best_tag_rank('x-1-cp311-cp311-manylinux_2_17_x86_64.whl', supported) == 1
    assert wheeltags.best_tag_rank('x-1-py3-none-any.whl', supported) == 2
    assert wheeltags.best_tag_rank('x-1-cp39-cp39-win_amd64.whl', supported) is None


def test_aarch64_glibc_tags_start_at_manylinux2014_and_have_no_x86_aliases():
    tags = wheeltags.linux_platform_tags('aarch64', 'glibc', '2.31')
    assert tags[0] == 'manylinux_2_31_aarch64'
    assert tags[-1] == 'linux_aarch64'
    assert 'manylinux2014_aarch64' in tags
    assert tags.index('manylinux2014_aarch64') == tags.index('manylinux_2_17_aarch64') + 1
    assert 'manylinux_2_16_aarch64' not in tags and not any('manylinux1' in tag for tag in tags)


def test_x86_64_glibc_tags_reach_down_to_manylinux1():
    tags = wheeltags.linux_platform_tags('x86_64', 'glibc', '2.17')
    assert tags[:2] == ['manylinux_2_17_x86_64', 'manylinux2014_x86_64']
    assert 'manylinux2010_x86_64' in tags and 'manylinux1_x86_64' in tags
    assert tags[-2:] == ['manylinux1_x86_64', 'linux_x86_64']


def test_musl_tags_count_down_minor_versions_and_exclude_manylinux():
    assert wheeltags.linux_platform_tags('x86_64', 'musl', '1.2') == [
        'musllinux_1_2_x86_64', 'musllinux_1_1_x86_64', 'musllinux_1_0_x86_64', 'linux_x86_64']


def test_cpython_tags_order_own_abi_then_abi3_then_none_then_pure():
    tags = wheeltags.tags_for('cpython', (3, 9), ['cp39'], ['manylinux_2_17_x86_64'])
    assert tags[:3] == ['cp39-cp39-manylinux_2_17_x86_64', 'cp39-abi3-manylinux_2_17_x86_64', 'cp39-none-manylinux_2_17_x86_64']
    assert 'cp32-abi3-manylinux_2_17_x86_64' in tags and 'cp31-abi3-manylinux_2_17_x86_64' not in tags
    assert tags[-1] == 'py30-none-any'
    assert tags.index('cp39-none-any') < tags.index('py39-none-any') < tags.index('py3-none-any')


def test_free_threaded_cpython_uses_abi3t_not_abi3():
    tags = wheeltags.tags_for('cpython', (3, 13), ['cp313t'], ['linux_x86_64'])
    assert 'cp313-cp313t-linux_x86_64' in tags and 'cp313-abi3t-linux_x86_64' in tags
    assert not any('-abi3-' in tag for tag in tags)


def test_pypy_tags_use_pp3_for_the_interpreter_none_any_tag():
    tags = wheeltags.tags_for('pypy', (3, 10), ['pypy310_pp73'], ['linux_x86_64'], interpreter_version='310')
    assert tags[0] == 'pp310-pypy310_pp73-linux_x86_64'
    assert 'pp3-none-any' in tags and 'py3-none-any' in tags


@pytest.mark.parametrize('version,abis,platforms', [
    ((3, 9), ['cp39'], ['manylinux_2_31_aarch64', 'manylinux2014_aarch64', 'linux_aarch64']),
    ((3, 13), ['cp313'], ['manylinux_2_17_x86_64', 'linux_x86_64']),
    ((3, 8), ['cp38'], ['musllinux_1_1_x86_64', 'linux_x86_64']),
])
def test_described_cpython_tags_equal_what_packaging_generates(version, abis, platforms):
    expected = [str(tag) for tag in packaging_tags.cpython_tags(version, abis, platforms)]
    expected += [str(tag) for tag in packaging_tags.compatible_tags(version, 'cp%d%d' % version, platforms)]
    assert wheeltags.tags_for('cpython', version, abis, platforms) == expected


def test_running_interpreter_tags_equal_packaging_sys_tags_as_a_set_and_in_manylinux_order():
    ours = wheeltags.supported_tags()
    theirs = [str(tag) for tag in packaging_tags.sys_tags()]
    assert set(ours) == set(theirs)
    # packaging >= 26.3 moved linux_<arch> ahead of manylinux; pip still ranks it last.
    assert [t for t in ours if '-linux_' not in t] == [t for t in theirs if '-linux_' not in t]


def test_describe_interpreter_runs_as_a_standalone_script():
    completed = subprocess.run([sys.executable, wheeltags.__file__], stdout=subprocess.PIPE, check=True)
    description = json.loads(completed.stdout)
    assert description['tags'] == wheeltags.supported_tags()
    assert set(description['tags']) == set(str(tag) for tag in packaging_tags.sys_tags())
    assert description['marker_environment']['python_version'] == '%d.%d' % sys.version_info[:2]
    assert description['implementation'] == sys.implementation.name
