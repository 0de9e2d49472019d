# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to Ruby on a target: which ruby and gem, a clean environment, the installed-state
probe, staged `gem install --local`, uninstall, and moving a staged install into place.

Runs on targets: standard library only.
"""

import errno
import hashlib
import json
import os
import re
import shutil
import time
from collections import namedtuple

from . import ruby_programs
from .gem_plan import InstalledGem, Toolchain
from ..._common import platform_info, process
from ..._common.errors import AirgapError, InstallError
from ..._common.fsutil import atomic_write_bytes, file_identity, is_own_file, nearest_existing
from ..._common.scripts import packaged_text

GemCommand = namedtuple('GemCommand', ['gem', 'ruby', 'argv'])
"""The chosen gem executable, the ruby that runs it, and the argv prefix that runs gem."""

Probe = namedtuple('Probe', ['ruby', 'ruby_version', 'rubygems_version', 'gem_dir', 'bindir', 'platforms', 'platform_fits',
                             'default_gems', 'installed', 'unreadable', 'toolchain', 'description'])
"""What one `ruby -e` run reports about the ruby (description: the airgap_platform fact's ruby part) and an install dir."""

STAGING_PREFIX = '.airgap-staging-'

PROBE = 'gem_probe.rb'
UNINSTALL = 'gem_uninstall.rb'

PROBE_RECORD_PREFIX = '.ruby-probe-'
# The environment variables that can change a probe's answer: the rest of the environment (SSH_CONNECTION, say)
# differs on every run and does not make a question different.
_PROBE_QUESTION_VARIABLES = ('HOME', 'GEM_HOME', 'GEM_PATH', 'CC', 'MAKE', 'make', 'LANG', 'LC_ALL')
# A path whose ctime is this close to a probe's start may have changed after the probe read it, without its
# ctime showing it (coarse clocks, whole-second filesystems): such an answer is not recorded.
_PROBE_RECORD_MARGIN_NS = 10 ** 9


def ruby_program(name):
    """The text of one of the Ruby programs beside this file (see _common/scripts.packaged_text)."""
    return packaged_text(ruby_programs, name)


def clean_environment(base_env):
    """base_env without what could redirect RubyGems, with a UTF-8 locale so Ruby reads gem files alike everywhere."""
    return process.clean_environment(process.RUBY_TOOL_VARIABLES, base_env, LC_ALL='C.UTF-8', LANG='C.UTF-8')


def gem_environment(base_env, gem_home, gem_path, home, gemrc):
    """The environment of every gem run: clean, HOME and XDG dirs private and empty, GEMRC an empty
    config, GEM_HOME/GEM_PATH exactly as given, so no .gemrc or GEM_* of the target applies."""
    env = clean_environment(base_env)
    env.update({
        'HOME': home,
        'XDG_CONFIG_HOME': os.path.join(home, '.config'),
        'XDG_DATA_HOME': os.path.join(home, '.local', 'share'),
        'XDG_CACHE_HOME': os.path.join(home, '.cache'),
        'GEMRC': gemrc,
        'GEM_HOME': gem_home,
        'GEM_PATH': os.pathsep.join(gem_path),
        'GEM_SPEC_CACHE': os.path.join(home, 'specs'),
    })
    return env


def _which(name, path_env):
    found = shutil.which(name, path=path_env)
    return os.path.abspath(found) if found else None


def locate_gem(executable, path_env):
    """The gem executable and the ruby that runs it (the one its #! names, else the ruby beside it)."""
    gem = executable if os.path.sep in executable else _which(executable, path_env)
    if not gem or not os.path.isfile(gem):
        raise AirgapError('gem executable %r not found%s: install Ruby and RubyGems on the host, or set executable to the path of gem'
                          % (executable, '' if os.path.sep in executable else ' in PATH'))
    gem = os.path.abspath(gem)
    try:
        with open(gem, 'rb') as handle:
            first = handle.readline(512).decode('utf-8', 'replace')
    except (IOError, OSError) as exc:
        raise AirgapError('cannot read gem executable %s: %s' % (gem, exc.strerror or exc))
    words = first[2:].split() if first.startswith('#!') else []
    interpreter = words[0] if words else ''
    if os.path.basename(interpreter) == 'env' and len(words) > 1:
        interpreter = words[1]
    if re.match(r'^(j|truffle)?ruby[0-9.]*$', os.path.basename(interpreter)):
        if os.path.isabs(interpreter):
            ruby = interpreter
        else:
            beside = os.path.join(os.path.dirname(gem), interpreter)
            ruby = beside if os.access(beside, os.X_OK) else _which(interpreter, path_env)
        if ruby and os.access(ruby, os.X_OK):
            return GemCommand(gem, ruby, [ruby, gem])
    # A wrapper script (rbenv shim, binstub): run it as is, probe with the ruby beside it.
    for directory in (os.path.dirname(gem), os.path.dirname(os.path.realpath(gem))):
        beside = os.path.join(directory, 'ruby')
        if os.access(beside, os.X_OK):
            return GemCommand(gem, beside, [gem])
    raise AirgapError('cannot tell which ruby runs %s (its first line is %r and no ruby sits beside it); set executable to the gem of a Ruby installation'
                      % (gem, first.strip()))


class ProbeRecord:
    """The answer of an earlier probe to the same question, kept in a directory the caller trusts (host_state: the
    gem staging root), and given again for as long as every path the answer rests on (its 'depends') is the file or
    directory it was (fsutil.file_identity; a missing path, as its nearest existing ancestor). So a converged host
    runs no Ruby; a gem installed, removed or damaged, a Ruby or RubyGems upgrade, moves a ctime and the probe runs.

    Nobody else may have written the record: it is taken only from a regular file of this user that no one else can
    write, in a directory the caller has checked.
    """

    def __init__(self, directory, argv, env, writable=True):
        question = json.dumps([argv, sorted((name, env[name]) for name in _PROBE_QUESTION_VARIABLES if name in env)])
        self.question = hashlib.sha256(question.encode('utf-8')).hexdigest()
        self.path = os.path.join(directory, '%s%s.json' % (PROBE_RECORD_PREFIX, self.question[:32]))
        self.writable = writable

    def load(self):
        """The recorded answer, or None when there is none this run may trust."""
        try:
            if not is_own_file(os.lstat(self.path)):
                return None
            with open(self.path, 'rb') as handle:
                record = json.loads(handle.read().decode('utf-8'))
        except (IOError, OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get('question') != self.question:
            return None
        paths, answer = record.get('paths'), record.get('answer')
        # An answer rests on the install dir at least: a record naming no path would hold for ever.
        if not isinstance(paths, dict) or not paths or not isinstance(answer, dict):
            return None
        if any(_path_identity(path)[0] != identity for path, identity in paths.items()):
            return None
        return answer

    def save(self, answer, started_ns):
        """Record answer, from a probe that started at started_ns, unless a path it rests on changed too lately."""
        if not self.writable or not answer.get('depends'):
            return
        paths = {}
        for path in answer['depends']:
            identity, ctime_ns = _path_identity(path)
            if ctime_ns >= started_ns - _PROBE_RECORD_MARGIN_NS:
                return
            paths[path] = identity
        try:
            atomic_write_bytes(self.path, json.dumps({'question': self.question, 'paths': paths, 'answer': answer},
                                                     sort_keys=True).encode('utf-8'), mode=0o600)
        except AirgapError:
            pass  # A full disk, say: without a record the next run probes again, slower and never less safe.


def _path_identity(path):
    """(identity, ctime_ns) of the file or directory at path, or of its nearest existing ancestor when it is missing."""
    try:
        info = os.stat(path)
        return file_identity(info), info.st_ctime_ns
    except OSError:
        ancestor = nearest_existing(path)
        try:
            info = os.stat(ancestor)
        except OSError:
            return ['unreadable', path], 0
        return ['missing', ancestor, file_identity(info)], info.st_ctime_ns


def probe(command, base_env, install_dir=None, user_install=False, platforms=(), runner=process.run, record_dir=None,
          check_mode=False):
    """Installed specifications of an install dir and what this ruby needs to know, from one `ruby -e` run, or from the
    ProbeRecord in record_dir of an earlier one while nothing it rests on has changed (none is written in check mode)."""
    if install_dir:
        mode, directory = 'dir', install_dir
    else:
        mode, directory = ('user' if user_install else 'default'), ''
    env = clean_environment(base_env)
    if install_dir:
        env['GEM_HOME'] = env['GEM_PATH'] = os.path.abspath(install_dir)
    argv = [command.ruby, '-e', ruby_program(PROBE), mode, directory] + sorted(set(platforms))
    record = ProbeRecord(record_dir, argv, env, writable=not check_mode) if record_dir else None
    data = record.load() if record else None
    if data is None:
        started_ns = time.time_ns()
        rc, out, err = runner(argv, env)
        if rc != 0:
            raise AirgapError('probing %s with %s failed (rc %d): %s'
                              % (install_dir or '%s gem dir' % mode, command.ruby, rc, err.strip()[-2000:]), rc=rc, stderr=err)
        try:
            data = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise AirgapError('probing with %s gave no readable answer: %s %s' % (command.ruby, out.strip()[-500:], err.strip()[-500:]))
        if record:
            record.save(data, started_ns)
    path_env = base_env.get('PATH', os.defpath)
    compiler = data['cc'].split()[0] if data['cc'].split() else ''
    make = data['make'].split()[0] if data['make'].split() else 'make'
    toolchain = Toolchain(compiler, _which(compiler, path_env) if compiler else None, make, _which(make, path_env),
                          dict((path, bool(present)) for path, present in data['headers']))
    installed = [InstalledGem(g['name'], g['version'], g['platform'], g['full_name'], bool(g['extensions']),
                              bool(g['missing_extensions']), list(g['requires']), list(g.get('missing_files') or []))
                 for g in data['installed']]
    description = platform_info.ruby_description(command.ruby, data['ruby'], data['local_platform'], data['rubygems'],
                                                 data['api_version'], data['engine'])
    return Probe(command.ruby, data['ruby'], data['rubygems'], data['gem_dir'], data['bindir'], data['platforms'], data['fits'],
                 data['default_gems'], installed, data['unreadable'], toolchain, description)


def failed_gem_files(output):
    """The gem files that `gem install` names in its 'Error installing FILE:' lines."""
    return re.findall(r'Error installing (.+?):\s*$', output, re.MULTILINE)


def stage_install(command, base_env, staging, install_dir, files, document=False, runner=process.run):
    """Install exact gem files into staging (a private tree beside nothing else) with gem, strictly locally.

    Dependencies were resolved when the cache was built and are already in files (or in the
    install dir, which GEM_PATH exposes to extension builds); gem resolves nothing and asks no source.
    """
    root = os.path.join(staging, 'root')
    home = os.path.join(staging, 'home')
    for directory in (root, home):
        os.mkdir(directory, 0o700)
    gemrc = os.path.join(staging, 'gemrc')
    with open(gemrc, 'w') as handle:
        handle.write('--- {}\n')
    env = gem_environment(base_env, root, [root, os.path.abspath(install_dir)], home, gemrc)
    argv = command.argv + [
        'install', '--norc', '--local', '--clear-sources', '--ignore-dependencies', '--no-user-install',
        '--install-dir', root, '--bindir', os.path.join(root, 'bin'),
        '--document=ri' if document else '--no-document',
    ] + list(files)
    rc, out, err = runner(argv, env, cwd=home)
    if rc != 0:
        failed = failed_gem_files(err + '\n' + out)
        # The staging tree is removed, so gem's pointers into it would mislead.
        report = '\n'.join(line for line in (err or out).splitlines()
                           if not line.startswith(('Gem files will remain installed', 'Results logged to')))
        raise InstallError(
            'gem install failed for %s (rc %d); nothing was installed into %s: %s'
            % (', '.join(failed) or 'one of %s' % ', '.join(files), rc, install_dir, _tail(report)),
            rc=rc, failed_files=failed, stdout=out, stderr=err, command=argv)
    return root


def uninstall(command, base_env, staging, install_dir, bindir, full_names, runner=process.run):
    """Remove exact installed specifications (full names) from install_dir with RubyGems' uninstaller."""
    if not full_names:
        return
    home = os.path.join(staging, 'home')
    if not os.path.isdir(home):
        os.mkdir(home, 0o700)
    env = gem_environment(base_env, install_dir, [install_dir], home, os.devnull)
    argv = [command.ruby, '-e', ruby_program(UNINSTALL), install_dir, bindir] + list(full_names)
    rc, out, err = runner(argv, env, cwd=home)
    if rc != 0:
        raise InstallError('removing %s from %s failed (rc %d): %s' % (', '.join(full_names), install_dir, rc, _tail(err or out)),
                           rc=rc, stdout=out, stderr=err)


def _tail(text, limit=3000):
    text = text.strip()
    return text if len(text) <= limit else '...' + text[-limit:]


# Directories of a GEM_HOME that hold one entry per gem: merged entry by entry. Anything below
# them (gems/NAME-VERSION, specifications/NAME-VERSION.gemspec, ...) moves as a unit.
_CONTAINERS = ('gems', 'specifications', 'cache', 'build_info', 'doc', 'extensions', 'plugins')


def _is_container(relative):
    parts = relative.split(os.sep)
    if parts[0] == 'extensions':
        return len(parts) <= 3  # extensions/<platform>/<extension api>/<full name>
    return len(parts) == 1 and parts[0] in _CONTAINERS


def _move_into_place(source, destination, trash):
    """Rename source over destination; a replaced destination goes to trash first."""
    if os.path.lexists(destination):
        os.rename(destination, os.path.join(trash, '%d-%s' % (len(os.listdir(trash)), os.path.basename(destination))))
    try:
        os.rename(source, destination)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(source, destination)


def merge_staged(root, install_dir, bindir, trash):
    """Move a staged GEM_HOME into install_dir and its executables into bindir; specifications last,
    so a gem appears installed only once its files, extensions and executables are in place."""
    moved = []

    def merge(relative):
        source = os.path.join(root, relative)
        for name in sorted(os.listdir(source)):
            child = os.path.join(relative, name) if relative else name
            if child in ('bin', 'specifications'):
                continue
            if _is_container(child) and os.path.isdir(os.path.join(root, child)):
                target = os.path.join(install_dir, child)
                if not os.path.isdir(target):
                    os.makedirs(target)
                merge(child)
            else:
                _move_into_place(os.path.join(root, child), os.path.join(install_dir, child), trash)
                moved.append(child)

    if not os.path.isdir(install_dir):
        os.makedirs(install_dir)
    merge('')
    staged_bin = os.path.join(root, 'bin')
    if os.path.isdir(staged_bin) and os.listdir(staged_bin):
        if not os.path.isdir(bindir):
            os.makedirs(bindir)
        for name in sorted(os.listdir(staged_bin)):
            _move_into_place(os.path.join(staged_bin, name), os.path.join(bindir, name), trash)
            moved.append(os.path.join(bindir, name))
    staged_specs = os.path.join(root, 'specifications')
    if os.path.isdir(staged_specs):
        target = os.path.join(install_dir, 'specifications')
        if not os.path.isdir(target):
            os.makedirs(target)
        for name in sorted(os.listdir(staged_specs)):
            _move_into_place(os.path.join(staged_specs, name), os.path.join(target, name), trash)
            moved.append(os.path.join('specifications', name))
    return moved
