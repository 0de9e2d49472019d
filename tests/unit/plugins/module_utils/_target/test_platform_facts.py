# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""platform_facts against what the interpreters and Ruby of this host say about themselves.

The expected values come from an independent source, never from platform_info or wheeltags: the interpreter's own
sys/platform modules and packaging's tags and markers (the oracle pip also follows), run inside the interpreter
described, and Ruby's RbConfig and Gem::Platform.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import packaging
import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target import platform_facts

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError

# Runs in the interpreter described, with only packaging added to its path.
ORACLE = '''
import json, platform, sys
sys.path.insert(0, sys.argv[1])
from packaging import markers, tags
print(json.dumps({
    'version': platform.python_version(), 'implementation': sys.implementation.name, 'version_info': list(sys.version_info[:2]),
    'machine': platform.machine(), 'libc': list(platform.libc_ver()),
    'tags': [str(tag) for tag in tags.sys_tags()], 'markers': markers.default_environment(),
}))
'''
PACKAGING_PATH = os.path.dirname(os.path.dirname(os.path.abspath(packaging.__file__)))

# The marker variables that the environment key hashes, as the platform_info docstring lists them.
KEY_MARKERS = ('os_name', 'sys_platform', 'platform_system', 'platform_machine', 'platform_python_implementation',
               'implementation_name', 'python_version')


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


def ask_interpreter(interpreter):
    """What `interpreter` and packaging, running in it, say about it."""
    done = subprocess.run([interpreter, '-I', '-c', ORACLE, PACKAGING_PATH], stdout=subprocess.PIPE, check=True)
    return json.loads(done.stdout)


def pip_tag_order(tags):
    """packaging's sys_tags in pip's order: packaging >= 26.3 puts linux_<arch> first among the platform tags of an
    interpreter-ABI pair, pip (and wheeltags) last. Only that moves; every other tag keeps packaging's order."""
    runs = []
    for tag in tags:
        pair = tag.rsplit('-', 1)[0]
        if not runs or runs[-1][0] != pair:
            runs.append((pair, []))
        runs[-1][1].append(tag)
    return [tag for _pair, run in runs for tag in sorted(run, key=lambda t: t.rsplit('-', 1)[1].startswith('linux_'))]


def expected_python(oracle):
    """The python part of airgap_platform, written from the interpreter's own answers and the documented key format."""
    assert oracle['implementation'] == 'cpython' and oracle['libc'][0] == 'glibc', 'the suite runs on CPython on glibc (Debian)'
    major, minor = oracle['version_info']
    tags = pip_tag_order(oracle['tags'])
    abi = 'cp%d%d' % (major, minor)
    inputs = {'implementation': 'cpython', 'python': '%d.%d' % (major, minor), 'abi': abi, 'tags': tags,
              'markers': dict((name, oracle['markers'][name]) for name in KEY_MARKERS)}
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(',', ':')).encode('utf-8')).hexdigest()[:8]
    libc_tag = 'manylinux_%s' % oracle['libc'][1].replace('.', '_')
    return {
        'version': oracle['version'], 'implementation': 'cpython', 'abi': abi, 'arch': oracle['machine'], 'platform': 'linux',
        'libc': {'flavor': 'glibc', 'version': oracle['libc'][1]}, 'tags': tags,
        'key': '%s-%s-%s-%s' % (abi, libc_tag, oracle['machine'], digest),
    }


def as_described(python):
    return dict((field, python[field]) for field in ('version', 'implementation', 'abi', 'arch', 'platform', 'libc', 'tags', 'key'))


def test_the_running_interpreter_is_described_without_a_subprocess():
    expected = expected_python(ask_interpreter(sys.executable))
    assert expected['version'] == '%d.%d.%d' % sys.version_info[:3]
    module = FakeModule()
    facts = platform_facts.gather_platform(module, None, gather_ruby=False)
    assert module.commands == []
    assert facts['python']['interpreter'] == sys.executable and facts['ruby'] is None
    assert as_described(facts['python']) == expected
    assert facts['key'] == expected['key']


def test_another_interpreter_is_described_by_running_wheeltags_in_it():
    # /usr/bin/python3 (a system package the suite installs) is another path than the venv's python,
    # so it is described in a subprocess even where both resolve to the same binary.
    others = [p for p in ['/usr/bin/python3'] + glob.glob('/root/.pyenv/versions/3.*/bin/python3')
              if os.path.exists(p) and os.path.abspath(p) != os.path.abspath(sys.executable)]
    assert others, 'the suite needs /usr/bin/python3 (apt-get install python3)'
    module = FakeModule()
    python = platform_facts.describe_python(module, others[0])
    assert python['interpreter'] == others[0] and module.commands[0][:3] == [others[0], '-I', '-c']
    assert as_described(python) == expected_python(ask_interpreter(others[0]))


def test_a_missing_interpreter_is_named():
    with pytest.raises(AirgapError, match='/nonexistent/python does not exist'):
        platform_facts.describe_python(FakeModule(), '/nonexistent/python')


def test_ruby_absent_from_path_gives_none():
    assert platform_facts.describe_ruby(FakeModule(path='/nonexistent'), 'ruby') is None


def test_ruby_on_this_host_gets_a_key():
    said = subprocess.run(['ruby', '-e', 'puts RbConfig::CONFIG["ruby_version"], Gem::Platform.local.to_s, RUBY_VERSION'],
                          stdout=subprocess.PIPE, check=True).stdout.decode().split()
    abi_version, gem_platform, version = said
    facts = platform_facts.gather_platform(FakeModule(), None)
    ruby = facts['ruby']
    assert (ruby['version'], ruby['abi_version'], ruby['platform']) == (version, abi_version, gem_platform)
    assert ruby['key'] == 'ruby-%s-%s' % (abi_version, gem_platform)
    assert facts['key'] == '%s+ruby-%s-%s' % (facts['python']['key'], abi_version, gem_platform)
