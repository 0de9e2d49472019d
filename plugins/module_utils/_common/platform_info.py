# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Platform descriptions and environment keys: which hosts can share one cache.

Runs on targets (platform_facts) and on the controller (wheel_cache, gem_cache): standard
library only.

Environment keys are short, readable, filesystem-safe strings; two hosts get the same key
exactly when the same artifacts fit both:

* Python key = ``<interpreter><abi flags>-<libc tag>-<arch>-<hash>``, e.g.
  ``cp311-manylinux_2_36-x86_64-1a2b3c4d``. The hash is the first 8 hex digits of the sha256 of
  the canonical JSON of ``python_key_inputs()``: implementation, Python ``X.Y``, ABI, the ordered
  supported tag list, and the marker variables that select dependencies the same way on every
  host of that kind (os_name, sys_platform, platform_system, platform_machine,
  platform_python_implementation, implementation_name, python_version). The patch version,
  kernel release and kernel version are left out on purpose: no wheel tag depends on them.
* Ruby key = ``ruby-<ABI version X.Y.0>-<Gem::Platform.local>``, e.g. ``ruby-3.1.0-x86_64-linux``:
  RubyGems picks gems by platform and installs them per ABI version, nothing else.
* The combined key joins both with ``+`` (Python alone when Ruby is absent).
"""

import hashlib
import json
import re

from .errors import AirgapError
from .scripts import wheeltags

KEY_MARKERS = ('os_name', 'sys_platform', 'platform_system', 'platform_machine', 'platform_python_implementation',
               'implementation_name', 'python_version')
_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')
_PLATFORM_SYSTEMS = {'linux': 'Linux', 'darwin': 'Darwin', 'win32': 'Windows'}
_IMPLEMENTATION_NAMES = {'cpython': 'CPython', 'pypy': 'PyPy', 'graalpy': 'GraalVM', 'ironpython': 'IronPython',
                         'jython': 'Jython'}


def _safe(text):
    return _UNSAFE.sub('_', str(text)).strip('_') or 'unknown'


def _short_version(version):
    parts = re.findall(r'\d+', str(version))
    if len(parts) < 2:
        raise AirgapError('Python version %r is not of the form X.Y or X.Y.Z' % (version,))
    return int(parts[0]), int(parts[1])


def python_key_inputs(description):
    """The values that define a Python environment key (documented in this module's docstring)."""
    markers = description.get('marker_environment') or {}
    major, minor = _short_version(description['version'])
    return {
        'implementation': description['implementation'],
        'python': '%d.%d' % (major, minor),
        'abi': description.get('abi', ''),
        'tags': list(description['tags']),
        'markers': dict((name, markers.get(name, '')) for name in KEY_MARKERS),
    }


def python_environment_key(description):
    """Short, readable, filesystem-safe key of a Python description (platform_facts' python dict)."""
    inputs = python_key_inputs(description)
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(',', ':')).encode('utf-8')).hexdigest()[:8]
    major, minor = _short_version(description['version'])
    short = wheeltags.INTERPRETER_SHORT_NAMES.get(description['implementation'], description['implementation'])
    interpreter = '%s%d%d' % (short, major, minor)
    abi = description.get('abi') or ''
    if abi.startswith(interpreter):
        interpreter = abi  # keeps ABI flags such as 't' (free-threaded) or 'd' (debug) readable
    libc = description.get('libc') or {}
    if libc.get('flavor') == 'glibc' and libc.get('version'):
        libc_tag = 'manylinux_%d_%d' % _short_version(libc['version'])
    elif libc.get('flavor') == 'musl' and libc.get('version'):
        libc_tag = 'musllinux_%d_%d' % _short_version(libc['version'])
    else:
        libc_tag = description.get('platform') or (inputs['markers'].get('sys_platform') or 'any')
    return '%s-%s-%s-%s' % (_safe(interpreter), _safe(libc_tag), _safe(description.get('arch') or 'any'), digest)


def ruby_abi_version(version):
    """RubyGems installs per ABI version X.Y.0: '3.1.2' -> '3.1.0'."""
    parts = re.findall(r'\d+', str(version))
    if len(parts) < 2:
        raise AirgapError('Ruby version %r is not of the form X.Y or X.Y.Z' % (version,))
    return '%s.%s.0' % (parts[0], parts[1])


def ruby_environment_key(platform, version):
    """Key of a Ruby environment from Gem::Platform.local (string) and the Ruby (ABI) version."""
    return 'ruby-%s-%s' % (ruby_abi_version(version), _safe(platform))


def combined_key(python_key, ruby_key=None):
    return '%s+%s' % (python_key, ruby_key) if ruby_key else python_key


def complete_python_description(partial):
    """A full Python description from a partial one (version, arch, libc at least), or a full one with its key.

    Accepts what platform_facts returns (the whole airgap_platform dict or its python part) or a
    hand-written description of a platform no host here has, e.g.
    {'version': '3.9.18', 'arch': 'aarch64', 'libc': {'flavor': 'glibc', 'version': '2.31'}}.
    """
    if not isinstance(partial, dict):
        raise AirgapError('a platform must be a dict as returned by airgap.packages.platform_facts, got %r' % (partial,))
    if isinstance(partial.get('python'), dict):
        partial = partial['python']
    missing = [field for field in ('version',) if not partial.get(field)]
    if not partial.get('tags') and not partial.get('arch'):
        missing.append('arch (or tags)')
    if missing:
        raise AirgapError('platform %s lacks %s; pass the python part of airgap_platform from platform_facts or at least '
                          'version, arch and libc' % (json.dumps(partial, sort_keys=True), ', '.join(missing)))
    libc = partial.get('libc') or {}
    if not isinstance(libc, dict):
        raise AirgapError('platform %s: libc must be a dict such as {flavor: glibc, version: "2.31"} (or '
                          '{flavor: musl, version: "1.2"}), got %r' % (json.dumps(partial, sort_keys=True), libc))
    if libc.get('flavor') not in (None, 'glibc', 'musl'):
        raise AirgapError('platform %s: libc flavor %r is neither glibc nor musl' % (json.dumps(partial, sort_keys=True), libc['flavor']))
    if libc.get('version') is not None and not re.match(r'^\d+\.\d+$', str(libc['version'])):
        raise AirgapError('platform %s: libc version %r is not of the form X.Y (such as "2.31" for glibc, "1.2" for musl)'
                          % (json.dumps(partial, sort_keys=True), libc['version']))
    for field in ('version', 'arch', 'implementation', 'abi', 'platform'):
        if partial.get(field) is not None and not isinstance(partial[field], str):
            raise AirgapError('platform %s: %s must be a string, got %r'
                              % (json.dumps(partial, sort_keys=True), field, partial[field]))
    if not re.match(r'^\d+\.\d+\.\d+', partial['version']):
        # Reading 3.9 as 3.9.0 would be silent and wrong: projects exclude early patch releases in Requires-Python
        # (cryptography: !=3.9.0,!=3.9.1), and the resolver would fall back to releases years old.
        raise AirgapError('platform %s: Python version %r has no patch level: give it in full, as `python3 --version` '
                          'prints it on the target (such as 3.9.18), or pass the airgap_platform fact that '
                          'platform_facts gathers' % (json.dumps(partial, sort_keys=True), partial['version']))
    description = dict(partial)
    implementation = description.setdefault('implementation', 'cpython').lower()
    description['implementation'] = implementation
    major, minor = _short_version(description['version'])
    short = wheeltags.INTERPRETER_SHORT_NAMES.get(implementation, implementation)
    if not description.get('abi'):
        description['abi'] = 'cp%d%d' % (major, minor) if short == 'cp' else 'none'
    description.setdefault('abis', [description['abi']])
    description.setdefault('platform', 'linux')
    description['libc'] = {'flavor': libc.get('flavor'), 'version': libc.get('version')}
    if not description.get('tags'):
        if description['platform'].startswith('linux'):
            platforms = wheeltags.linux_platform_tags(description['arch'], libc.get('flavor'), libc.get('version'))
        else:
            platforms = [_safe(description['arch'])]
        description['tags'] = wheeltags.tags_for(implementation, (major, minor), description['abis'], platforms,
                                                 interpreter_version=description.get('interpreter_version'))
    description['marker_environment'] = _complete_markers(description, major, minor)
    description.setdefault('pip_available', None)
    description.setdefault('interpreter', None)
    description['key'] = python_environment_key(description)
    return description


def _complete_markers(description, major, minor):
    markers = dict(description.get('marker_environment') or {})
    full = str(description['version'])
    system = _PLATFORM_SYSTEMS.get(description['platform'], description['platform'].capitalize())
    defaults = {
        'implementation_name': description['implementation'],
        'implementation_version': full,
        'os_name': 'nt' if description['platform'] == 'win32' else 'posix',
        'platform_machine': description.get('arch') or '',
        'platform_release': '',
        'platform_system': system,
        'platform_version': '',
        'python_full_version': full,
        'platform_python_implementation': _IMPLEMENTATION_NAMES.get(description['implementation'],
                                                                    description['implementation']),
        'python_version': '%d.%d' % (major, minor),
        'sys_platform': description['platform'],
    }
    for name, value in defaults.items():
        markers.setdefault(name, value)
    return markers


def describe_running_python():
    """The full description (with key) of the interpreter running this code."""
    return complete_python_description(wheeltags.describe_interpreter())


def ruby_description(executable, version, platform, rubygems, abi=None, engine='ruby'):
    """The Ruby description (the airgap_platform fact's ruby part) from what that ruby says of itself."""
    return {
        'executable': executable,
        'version': version,
        'abi_version': abi or ruby_abi_version(version),
        'engine': engine or 'ruby',
        'platform': platform,
        'rubygems_version': rubygems,
        'key': ruby_environment_key(platform, abi or version),
    }
