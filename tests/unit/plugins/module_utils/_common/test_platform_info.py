# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import re
import sys

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common import platform_info

from ansible_collections.airgap.packages.plugins.module_utils._common.scripts import wheeltags
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError

AARCH64_39 = {'version': '3.9.18', 'arch': 'aarch64', 'libc': {'flavor': 'glibc', 'version': '2.31'}}


def test_a_hand_written_description_of_the_running_host_gets_the_same_key_as_the_host():
    running = platform_info.describe_running_python()
    libc = wheeltags.libc_info()
    # The suite runs on Debian: CPython on glibc.
    assert libc['flavor'] == 'glibc' and sys.implementation.name == 'cpython'
    by_hand = platform_info.complete_python_description({
        'version': '%d.%d.%d' % sys.version_info[:3], 'arch': running['arch'], 'libc': libc})
    assert by_hand['tags'] == running['tags']
    assert by_hand['key'] == running['key']


def test_python_key_is_readable_and_filesystem_safe():
    key = platform_info.complete_python_description(AARCH64_39)['key']
    assert re.match(r'^cp39-manylinux_2_31-aarch64-[0-9a-f]{8}$', key), key


def test_python_key_ignores_patch_version_and_kernel_release():
    one = platform_info.complete_python_description(dict(AARCH64_39, version='3.9.2'))
    other = dict(AARCH64_39, version='3.9.18', marker_environment={'platform_release': '6.1.0', 'platform_version': '#1 SMP'})
    assert platform_info.complete_python_description(other)['key'] == one['key']


@pytest.mark.parametrize('change', [
    {'libc': {'flavor': 'glibc', 'version': '2.28'}},
    {'libc': {'flavor': 'musl', 'version': '1.2'}},
    {'arch': 'x86_64'},
    {'version': '3.10.14'},
    {'abi': 'cp39d'},
])
def test_python_key_changes_when_what_fits_changes(change):
    base = platform_info.complete_python_description(AARCH64_39)['key']
    assert platform_info.complete_python_description(dict(AARCH64_39, **change))['key'] != base


def test_the_whole_airgap_platform_fact_is_accepted_as_a_platform():
    python = platform_info.complete_python_description(AARCH64_39)
    fact = {'python': python, 'ruby': None, 'key': python['key']}
    assert platform_info.complete_python_description(fact)['key'] == python['key']


def test_derived_marker_environment_describes_the_target_not_this_host():
    markers = platform_info.complete_python_description(AARCH64_39)['marker_environment']
    assert markers['python_version'] == '3.9' and markers['platform_machine'] == 'aarch64'
    assert markers['sys_platform'] == 'linux' and markers['platform_python_implementation'] == 'CPython'


def test_incomplete_platform_is_rejected_with_what_is_missing():
    with pytest.raises(AirgapError, match='lacks version'):
        platform_info.complete_python_description({'arch': 'x86_64'})


def test_ruby_key_uses_the_abi_version_and_gem_platform():
    assert platform_info.ruby_environment_key('x86_64-linux', '3.1.2') == 'ruby-3.1.0-x86_64-linux'
    assert platform_info.ruby_environment_key('x86_64-linux', '3.1.0') == 'ruby-3.1.0-x86_64-linux'
    assert platform_info.ruby_environment_key('arm64-darwin 22', '3.3') == 'ruby-3.3.0-arm64-darwin_22'


def test_combined_key_joins_python_and_ruby_keys():
    assert platform_info.combined_key('cp311-x', 'ruby-3.1.0-x86_64-linux') == 'cp311-x+ruby-3.1.0-x86_64-linux'
    assert platform_info.combined_key('cp311-x', None) == 'cp311-x'


def test_a_ruby_description_is_keyed_by_its_abi_version_and_gem_platform():
    ruby = platform_info.ruby_description('/usr/bin/ruby', '3.1.2', 'x86_64-linux', '3.3.15', '3.1.0', 'ruby')
    assert ruby == {'executable': '/usr/bin/ruby', 'version': '3.1.2', 'abi_version': '3.1.0', 'engine': 'ruby',
                    'platform': 'x86_64-linux', 'rubygems_version': '3.3.15', 'key': 'ruby-3.1.0-x86_64-linux'}
    # Without RbConfig's ruby_version, the ABI version is RubyGems' X.Y.0 of the version.
    assert platform_info.ruby_description('ruby', '3.3.6', 'aarch64-linux', '3.5.22')['key'] == 'ruby-3.3.0-aarch64-linux'


@pytest.mark.parametrize('version', ['3.9', '3', '3.9.', 'three'])
def test_a_hand_written_python_version_without_its_patch_level_is_refused(version):
    with pytest.raises(AirgapError, match="Python version '%s' has no patch level: give it in full" % re.escape(version)):
        platform_info.complete_python_description(dict(AARCH64_39, version=version))


def test_the_full_version_is_the_targets_python_full_version_marker():
    markers = platform_info.complete_python_description(dict(AARCH64_39, version='3.9.2'))['marker_environment']
    assert markers['python_full_version'] == '3.9.2' and markers['implementation_version'] == '3.9.2'
