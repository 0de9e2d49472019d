# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gathering of the airgap_platform fact on a target.

Runs on targets: standard library and ansible.module_utils only.
"""

import json
import os
import sys

from .ruby import gem_target
from .._common import platform_info
from .._common.errors import AirgapError
from .._common.scripts import script_source, wheeltags

# The options of every module that gathers the fact (documented in the platform_facts doc fragment).
FACTS_ARGUMENT_SPEC = dict(
    python_interpreter=dict(type='path'),
    ruby_executable=dict(type='str', default='ruby'),
    gather_ruby=dict(type='bool', default=True),
)


def describe_python(module, interpreter=None):
    """Description (with key) of `interpreter`, or of the one running this module when None/the same."""
    if not interpreter or os.path.abspath(interpreter) == os.path.abspath(sys.executable):
        return platform_info.describe_running_python()
    if not os.path.exists(interpreter):
        raise AirgapError('Python interpreter %s does not exist on this host' % interpreter, interpreter=interpreter)
    if not os.path.isfile(interpreter) or not os.access(interpreter, os.X_OK):
        raise AirgapError('Python interpreter %s is not an executable file: give the path of a Python 3.8 or newer '
                          'interpreter' % interpreter, interpreter=interpreter)
    # The script ends with a __main__ block that prints the description as JSON.
    rc, out, err = module.run_command([interpreter, '-I', '-c', script_source(wheeltags)], environ_update={'PYTHONIOENCODING': 'utf-8'})
    if rc != 0:
        raise AirgapError('cannot describe %s (exit %d): %s; it must be Python 3.8 or newer' % (interpreter, rc, err.strip()),
                          interpreter=interpreter)
    try:
        description = json.loads(out)
    except ValueError:
        raise AirgapError('%s printed no description: %r' % (interpreter, out[-500:]), interpreter=interpreter)
    return platform_info.complete_python_description(description)


def ruby_path(module, executable='ruby'):
    """The ruby that describes this host's Ruby, or None when it is not installed."""
    path = executable if os.path.sep in executable else module.get_bin_path(executable)
    return os.path.abspath(path) if path and os.path.exists(path) else None


def describe_ruby(module, executable='ruby', probe=None):
    """Description (with key) of Ruby, or None when it is not installed. A gem_target probe this ruby made
    already (host_state's) answers without running it again: one Ruby process per host."""
    path = ruby_path(module, executable)
    if path is None:
        return None
    if probe is not None and os.path.realpath(probe.ruby) == os.path.realpath(path):
        return dict(probe.description, executable=path)
    return gem_target.probe(gem_target.GemCommand(None, path, None), os.environ).description


def gather_platform_from_params(module, ruby_probe=None):
    """The airgap_platform fact, from a module built with FACTS_ARGUMENT_SPEC."""
    params = module.params
    return gather_platform(module, params['python_interpreter'], params['ruby_executable'], params['gather_ruby'], ruby_probe)


def gather_platform(module, python_interpreter=None, ruby_executable='ruby', gather_ruby=True, ruby_probe=None):
    """The airgap_platform fact: {'python': {...}, 'ruby': {...} or None, 'key': combined key}."""
    python = describe_python(module, python_interpreter)
    ruby = describe_ruby(module, ruby_executable, ruby_probe) if gather_ruby else None
    return {
        'python': python,
        'ruby': ruby,
        'key': platform_info.combined_key(python['key'], ruby['key'] if ruby else None),
    }
