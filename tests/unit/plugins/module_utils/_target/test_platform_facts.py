# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import glob
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target import platform_facts

from ansible_collections.airgap.packages.plugins.module_utils._common import platform_info
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError


class FakeModule:
    """What platform_facts needs of AnsibleModule: run_command and get_bin_path."""

    def __init__(self, path=None):
        self.path = path
        self.commands = []

    def run_command(self, argv, environ_update=None):
        self.commands.append(argv)
        env = dict(os.environ, **(environ_update or {}))
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def get_bin_path(self, name):
        return shutil.which(name, path=self.path) if self.path is not None else shutil.which(name)


def test_the_running_interpreter_is_described_without_a_subprocess():
    module = FakeModule()
    facts = platform_facts.gather_platform(module, None, gather_ruby=False)
    assert facts['python']['interpreter'] == sys.executable and facts['ruby'] is None
    assert facts['key'] == facts['python']['key'] and module.commands == []


def test_another_interpreter_is_described_by_running_wheeltags_in_it():
    # /usr/bin/python3 (a system package the suite installs) is another path than the venv's python,
    # so it is described in a subprocess even where both resolve to the same binary.
    others = [p for p in ['/usr/bin/python3'] + glob.glob('/root/.pyenv/versions/3.*/bin/python3')
              if os.path.exists(p) and os.path.abspath(p) != os.path.abspath(sys.executable)]
    assert others, 'the suite needs /usr/bin/python3 (apt-get install python3)'
    module = FakeModule()
    python = platform_facts.describe_python(module, others[0])
    assert python['interpreter'] == others[0] and module.commands[0][:3] == [others[0], '-I', '-c']
    by_hand = platform_info.complete_python_description(dict(
        (k, python[k]) for k in ('version', 'arch', 'libc', 'implementation', 'abi')))
    assert by_hand['key'] == python['key']


def test_a_missing_interpreter_is_named():
    with pytest.raises(AirgapError, match='/nonexistent/python does not exist'):
        platform_facts.describe_python(FakeModule(), '/nonexistent/python')


def test_ruby_absent_from_path_gives_none():
    assert platform_facts.describe_ruby(FakeModule(path='/nonexistent'), 'ruby') is None


def test_ruby_on_this_host_gets_a_key():
    facts = platform_facts.gather_platform(FakeModule(), None)
    assert facts['ruby']['key'] == platform_info.ruby_environment_key(facts['ruby']['platform'], facts['ruby']['abi_version'])
    assert facts['key'] == '%s+%s' % (facts['python']['key'], facts['ruby']['key'])
