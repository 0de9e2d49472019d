# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running commands: argv lists (never a shell), and the clean environments they run in.

Runs on the controller and on targets: standard library only.
"""

import os
import subprocess

# Variables that would let a host's own configuration steer pip, uv or an interpreter.
PYTHON_TOOL_VARIABLES = ('PIP_', 'UV_', 'PYTHON', 'VIRTUAL_ENV', 'CONDA_', '__PYVENV_LAUNCHER__')
# Variables that would let a host's own configuration steer Ruby, RubyGems or Bundler.
RUBY_TOOL_VARIABLES = ('GEM_', 'RUBYGEMS_', 'BUNDLE_', 'BUNDLER_', 'XDG_', 'GEMRC', 'RUBYOPT', 'RUBYLIB',
                       'RUBYSHELL', 'DESTDIR', 'RB_USER_INSTALL')


def clean_environment(dropped, environ=None, **settings):
    """environ (os.environ when None) without the variables whose names start with one of dropped, plus settings."""
    environ = os.environ if environ is None else environ
    env = dict((key, value) for key, value in environ.items() if not key.startswith(tuple(dropped)))
    env.update(settings)
    return env


def run(argv, env, data=None, cwd=None):
    """Run argv with exactly env; stdin is data (text) or closed, so nothing can prompt.

    Returns (rc, stdout, stderr) as text. A command that cannot start returns rc 127 and the reason
    as stderr, the way a shell reports it, so that callers word one failure path.
    """
    try:
        process = subprocess.Popen(argv, env=env, cwd=cwd, close_fds=True,
                                   stdin=subprocess.DEVNULL if data is None else subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (IOError, OSError) as exc:
        return 127, '', 'cannot run %s: %s' % (argv[0], exc.strerror or exc)
    out, err = process.communicate(None if data is None else data.encode('utf-8'))
    return process.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


class Runner:
    """run() bound to one environment: the callable every command of a module goes through."""

    def __init__(self, env):
        self.env = env

    def __call__(self, argv, data=None, cwd=None):
        return run(argv, self.env, data, cwd)
