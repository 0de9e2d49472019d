# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A target Python environment: probe it, create it as a virtualenv, run commands in it cleanly.

Runs on targets: standard library only (Python 3.8+).
"""

import json
import os
import shutil
import stat
import sys

from . import wheel_check
from ..._common import process
from ..._common.errors import AirgapError, InstallError
from ..._common.scripts import interpreter_probe, script_source


def clean_environment(environ=None):
    """The environment for every installer command: no PIP_*, UV_*, PYTHON* influence, no pip config files."""
    env = process.clean_environment(process.PYTHON_TOOL_VARIABLES, environ,
                                    # os.devnull as PIP_CONFIG_FILE makes pip skip every configuration file, site-wide ones included.
                                    PIP_CONFIG_FILE=os.devnull, PYTHONNOUSERSITE='1')
    env.setdefault('LANG', 'C.UTF-8')
    return env


class Runner(process.Runner):
    """Runs installer commands in the clean environment."""

    def __init__(self, environ=None):
        process.Runner.__init__(self, clean_environment(environ))


class Distribution:
    """One installed distribution as the probe saw it."""

    def __init__(self, name, version, path, in_environment, problem=None):
        self.name = name
        self.version = version
        self.path = path
        self.in_environment = in_environment
        self.problem = problem

    def __repr__(self):
        return 'Distribution(%s %s)' % (self.name, self.version)


class PythonState:
    """What one interpreter reports about itself: version, where it installs, what it holds, which tags it takes."""

    def __init__(self, python, data):
        self.python = python
        self.executable = data['executable']
        self.version = data['version']
        self.implementation = data.get('implementation', '')
        self.prefix = data['prefix']
        self.in_venv = data.get('in_venv', False)
        self.purelib = data['purelib']
        self.platlib = data['platlib']
        self.scripts = data.get('scripts')
        self.data = data.get('data')
        self.externally_managed = data.get('externally_managed', False)
        self.has_venv = data.get('has_venv')
        self.has_ensurepip = data.get('has_ensurepip')
        self.distributions = [Distribution(**d) for d in data.get('distributions', [])]
        self.tags = data.get('tags')

    def visible(self):
        """{name: version} of every distribution the interpreter can import."""
        return dict((d.name, d.version) for d in self.distributions)

    def removable(self):
        """{name: version} of the distributions inside the environment's own site-packages."""
        return dict((d.name, d.version) for d in self.distributions if d.in_environment)

    def broken(self):
        """{name: Distribution} of the distributions in the environment whose dist-info is not whole (see interpreter_probe)."""
        return dict((d.name, d) for d in self.distributions if d.in_environment and d.problem)

    def distribution(self, name):
        """The Distribution the interpreter sees under name, or None."""
        for candidate in self.distributions:
            if candidate.name == name:
                return candidate
        return None

    def scheme(self):
        """Where an installer puts each part of a wheel (headers are left out: no rule here needs them)."""
        return {'purelib': self.purelib, 'platlib': self.platlib, 'scripts': self.scripts, 'data': self.data}

    def file_tags(self, filename):
        return (self.tags or {}).get('files', {}).get(filename)


def _wheeltags_module():
    from ..._common.scripts import wheeltags
    return wheeltags


def same_interpreter(python):
    """True when python is the very binary running this code (a virtualenv of it counts): its wheel tags are ours."""
    try:
        return os.path.realpath(python) == os.path.realpath(sys.executable)
    except (IOError, OSError):
        return False


def read_state(python, virtualenv, filenames=None, check=None):
    """A virtualenv's state without starting its interpreter, or None when probe() has to run it.

    Tags are computed here only when the virtualenv's interpreter is the one running this code;
    check names the distributions whose dist-info is checked for damage ('*': all).
    """
    state = read_virtualenv(virtualenv, check)
    if state is None or filenames is None:
        return state
    if not same_interpreter(python):
        return None
    state.tags = interpreter_probe.tag_report(vars(_wheeltags_module()), list(filenames))
    return state


def probe(python, runner, filenames=None, capabilities=False, check=None):
    """Ask the interpreter at `python` about itself (one short subprocess); tags of filenames when given."""
    request = {'capabilities': capabilities, 'check': check}
    if filenames is not None:
        request['wheeltags_source'] = script_source(_wheeltags_module())
        request['filenames'] = list(filenames)
    rc, out, err = runner([python, '-I', '-c', script_source(interpreter_probe)], data=json.dumps(request))
    data = None
    if rc == 0:
        try:
            data = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            data = None
    if data is None:
        raise AirgapError('cannot run the interpreter %s (rc=%d): %s' % (python, rc, (err or out).strip()[-2000:]),
                          interpreter=python)
    if 'error' in data:
        raise AirgapError('the interpreter %s could not describe itself: %s' % (python, data['error']), interpreter=python)
    return PythonState(python, data)


def venv_python(path):
    return os.path.join(path, 'bin', 'python')


def _read_pyvenv_cfg(path):
    config = {}
    try:
        with open(os.path.join(path, 'pyvenv.cfg')) as handle:
            for line in handle:
                key, sep, value = line.partition('=')
                if sep:
                    config[key.strip().lower()] = value.strip()
    except (IOError, OSError):
        return None
    return config


def read_virtualenv(path, check=None):
    """The state of a plain CPython virtualenv read from its files alone, or None whenever that could differ
    from what its interpreter would say (then probe() must run it).

    Plain means: no system site-packages, one lib*/pythonX.Y/site-packages directory, and bin/python
    resolving to an existing pythonX.Y of the version pyvenv.cfg records. Such an interpreter's
    sys.path holds no other directory with distributions, so the dist-info scan is the same.
    """
    config = _read_pyvenv_cfg(path)
    if not config or config.get('include-system-site-packages', 'false').lower() != 'false':
        return None
    sites = set()
    for lib in ('lib', 'lib64'):
        try:
            entries = os.listdir(os.path.join(path, lib))
        except (IOError, OSError):
            continue
        for entry in entries:
            site = os.path.join(path, lib, entry, 'site-packages')
            if entry.startswith('python') and os.path.isdir(site):
                sites.add((os.path.realpath(site), entry[len('python'):]))
    if len(sites) != 1:
        return None
    (site, major_minor), = sites
    version = config.get('version') or config.get('version_info') or ''
    executable = os.path.realpath(venv_python(path))
    if (not version.startswith(major_minor + '.') or os.path.basename(executable) != 'python' + major_minor
            or not os.access(executable, os.X_OK)):
        return None
    site = os.path.join(path, os.path.relpath(site, os.path.realpath(path)))
    return PythonState(venv_python(path), {
        'executable': venv_python(path), 'version': version, 'prefix': path, 'in_venv': True, 'purelib': site,
        'platlib': site, 'scripts': os.path.join(path, 'bin'), 'data': path, 'externally_managed': False,
        'distributions': interpreter_probe.installed_distributions([site], [site], check)})


def is_virtualenv(path):
    return os.path.isfile(os.path.join(path, 'pyvenv.cfg')) and os.path.exists(venv_python(path))


def create_virtualenv(path, base_python, base_state, runner, seed_pip_with_ensurepip):
    """Create a virtualenv at path from base_python, without pip unless ensurepip is to seed it.

    Uses the venv module when the base interpreter has it; otherwise lays out a PEP 405
    environment by hand (pyvenv.cfg + bin/python), which every CPython 3 honours.
    Returns how it was made ('venv', 'venv+ensurepip' or 'pep405').
    """
    existed = os.path.isdir(path)
    if existed and os.listdir(path):
        raise InstallError('%s exists and is not a virtualenv (no pyvenv.cfg or bin/python); remove it or choose another path'
                           % path, virtualenv=path)
    try:
        if base_state.has_venv:
            argv = [base_python, '-I', '-m', 'venv']
            how = 'venv+ensurepip' if seed_pip_with_ensurepip else 'venv'
            if not seed_pip_with_ensurepip:
                argv.append('--without-pip')
            rc, out, err = runner(argv + [path])
            if rc != 0:
                raise InstallError('creating the virtualenv %s with %s failed (rc=%d): %s'
                                   % (path, ' '.join(argv), rc, (err or out).strip()[-2000:]), virtualenv=path)
        else:
            how = 'pep405'
            _layout_pep405(path, base_state)
    except BaseException:
        _remove_partial(path, existed)
        raise
    if not is_virtualenv(path):
        _remove_partial(path, existed)
        raise InstallError('%s was not created as a virtualenv by %s' % (path, base_python), virtualenv=path)
    return how


def _layout_pep405(path, base_state):
    """The minimal environment PEP 405 defines: pyvenv.cfg beside bin/python, plus an empty site-packages."""
    executable = base_state.executable
    major_minor = '.'.join(base_state.version.split('.')[:2])
    bin_dir = os.path.join(path, 'bin')
    lib_dir = os.path.join(path, 'lib')
    site_packages = os.path.join(lib_dir, 'python%s' % major_minor, 'site-packages')
    for directory in (bin_dir, site_packages, os.path.join(path, 'include')):
        os.makedirs(directory, 0o755)
    if sys.maxsize > 2 ** 32 and not os.path.exists(os.path.join(path, 'lib64')):
        os.symlink('lib', os.path.join(path, 'lib64'))
    config = ('home = %s\ninclude-system-site-packages = false\nversion = %s\nexecutable = %s\n'
              % (os.path.dirname(executable), base_state.version, os.path.realpath(executable)))
    with open(os.path.join(path, 'pyvenv.cfg'), 'w') as handle:
        handle.write(config)
    os.symlink(executable, os.path.join(bin_dir, 'python'))
    for alias in ('python3', 'python%s' % major_minor):
        os.symlink('python', os.path.join(bin_dir, alias))


def within(path, roots):
    """True when the absolute path is one of roots or below one of them."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def remove_broken_distribution(distribution, roots):
    """Remove a broken distribution so that an installer can put it back: its dist-info directory, and each file its
    RECORD lists that still has the recorded hash (the proof that it is this distribution's), inside roots only.

    Returns the paths removed. A file that another distribution overwrote, or that RECORD lists without a
    hash, stays; the reinstall writes what it owns over it.
    """
    info = os.path.abspath(distribution.path)
    site = os.path.dirname(info)
    try:
        rows = interpreter_probe.read_record(info)
    except (IOError, OSError, ValueError):
        rows = []
    removed = []
    for path, value, _size in rows:
        full = os.path.abspath(os.path.join(site, path))
        if full.startswith(info + os.sep) or not within(full, roots) or not value:
            continue
        try:
            mode = os.lstat(full).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and wheel_check.file_matches_record(full, value):
            os.unlink(full)
            removed.append(full)
    if os.path.lexists(info):
        shutil.rmtree(info)
        removed.append(info)
    for directory in sorted(set(os.path.dirname(p) for p in removed), key=len, reverse=True):
        while directory != site and within(directory, roots) and not any(directory == os.path.abspath(r) for r in roots):
            try:
                os.rmdir(directory)
            except OSError:
                break
            directory = os.path.dirname(directory)
    return removed


def remove_created(path, existed):
    """Remove what create_virtualenv made at path (its contents only, when path was an empty directory before)."""
    _remove_partial(path, existed)


def _remove_partial(path, existed):
    if existed:
        for entry in os.listdir(path):
            full = os.path.join(path, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                os.unlink(full)
    else:
        shutil.rmtree(path, ignore_errors=True)
