# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the sdists of a staged build-input cache into wheels on an offline builder host, with no index.

Runs on the builder: standard library only (Python 3.9+). The order is fixed: read the manifest, verify every
artifact, check that this interpreter is of the cache's environment key, then under the lock of dest: reuse what
an earlier run built and recorded, check everything the remaining builds need (one error naming every problem),
and only then run pip, from the pip wheel of the build inputs, once per sdist.
"""

import json
import os
import re
import shutil
import sys
import tarfile
import zipfile
import zlib

from . import python_env
from ..._common import platform_info, process
from ..._common.errors import AirgapError, InstallError, ManifestError, VerificationError
from ..._common.fsutil import (
    atomic_write_bytes, check_directory_to_write, environment_lock, private_tempdir, remove_leftovers)
from ..._common.manifest import Artifact, artifact_problem, load_manifest, sha256_file, verify_artifacts
from ..._common.scripts import script_source, wheeltags
from ..._common.scripts.interpreter_probe import normalise_name

SDIST_SUFFIXES = ('.tar.gz', '.zip')
NATIVE_SUFFIXES = ('.c', '.cc', '.cpp', '.cxx', '.pyx', '.f', '.f90')
RECORD_NAME = 'built.json'
WORK_PREFIX = '.build-'
# 1980-01-01, the earliest time a zip member can carry: wheels built twice from one sdist get the same timestamps
# where the backend allows (the controller's own sdist builds in wheel_cache use it too).
SOURCE_DATE_EPOCH = '315532800'
OUTPUT_TAIL = 1500
DEBIAN_HINT = 'install them (on Debian: apt-get install build-essential python3-dev)'
_MISSING_DEPENDENCY = re.compile(r'(?:No matching distribution found for|Could not find a version that satisfies the '
                                 r'requirement)\s+([A-Za-z0-9][A-Za-z0-9._-]*)')

# Runs in the build interpreter (python -I -c): what its own sysconfig says, and its description when asked.
PROBE = r'''
import json, os, platform, sys, sysconfig
request = json.loads(sys.stdin.read())
try:
    glibc = os.confstr('CS_GNU_LIBC_VERSION') or ''
except (AttributeError, OSError, ValueError):
    glibc = ''
glibc = glibc.split(' ', 1)[1] if glibc.startswith('glibc ') else ''
found = {'version': platform.python_version(), 'cc': sysconfig.get_config_var('CC') or '',
         'include': sysconfig.get_paths().get('include') or '', 'glibc': glibc}
if request.get('wheeltags'):
    namespace = {'__name__': 'wheeltags'}
    exec(request['wheeltags'], namespace)
    found['description'] = namespace['describe_interpreter']()
sys.stdout.write(json.dumps(found))
'''


def build_staged(build_inputs, dest, check_mode=False, python=None):
    """Build every sdist of the staged build-input cache `build_inputs` into wheels under `dest`, with no index.

    Returns {'changed': bool, 'key': key, 'wheels': [{name, version, filename, path, sha256, size, built_from:
    {sdist, sdist_sha256, key, python, glibc, compiler}}]}, one entry per sdist in manifest order. In check mode
    nothing is written and an sdist not built yet has only name, version and built_from.
    """
    build_inputs, dest, python = os.path.abspath(build_inputs), os.path.abspath(dest), python or sys.executable
    manifest = load_manifest(build_inputs)
    if manifest.ecosystem != 'python' or manifest.inputs.get('purpose') != 'build':
        raise ManifestError('%s is not a build-input cache: its manifest lacks inputs.purpose "build". Give the cache that '
                            'wheel_cache writes for builder_keys' % build_inputs, build_inputs=build_inputs)
    verify_artifacts(build_inputs, manifest.artifacts)
    check_directory_to_write('dest', dest)
    builds = _Builds(manifest, build_inputs, dest, python)
    if check_mode:
        return builds.run(check_mode)
    with environment_lock(dest):
        remove_leftovers(dest, WORK_PREFIX)
        return builds.run(check_mode)


def probe(python, env):
    """What the build interpreter says of itself, with its full description (and key) under 'description'."""
    same = python_env.same_interpreter(python)
    request = {'wheeltags': None if same else script_source(wheeltags)}
    rc, out, err = process.run([python, '-I', '-c', PROBE], env, data=json.dumps(request))
    try:
        found = json.loads(out) if rc == 0 else None
    except ValueError:
        found = None
    if found is None:
        raise AirgapError('cannot run the build interpreter %s (rc=%d): %s; give a Python 3.9 or newer of the build inputs\' '
                          'key' % (python, rc, (err or out).strip()[-OUTPUT_TAIL:]), interpreter=python)
    found['description'] = (platform_info.describe_running_python() if same
                            else platform_info.complete_python_description(found['description']))
    return found


def recorded(directory, key):
    """The entry of built.json in directory when its wheel still has the recorded size and sha256, else None."""
    try:
        with open(os.path.join(directory, RECORD_NAME), 'rb') as handle:
            entry = json.loads(handle.read().decode('utf-8'))
        wheel = Artifact.from_dict(entry)
        recorded_key = entry['built_from']['key']
    except (IOError, OSError, ValueError, KeyError, TypeError, ManifestError):
        return None
    if recorded_key != key or artifact_problem(directory, wheel):
        return None
    return dict(entry, path=os.path.join(directory, wheel.filename))


def sdist_members(path):
    """The member names of an sdist, read without extracting anything."""
    if path.endswith('.zip'):
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    with tarfile.open(path, 'r:gz') as archive:
        return archive.getnames()


def _wheel_name(filename):
    try:
        return normalise_name(wheeltags.parse_wheel_filename(filename)[0])
    except ValueError:
        return None


class _Builds:
    """One run over a verified build-input cache: the builder's interpreter, and the sdists to build with it."""

    def __init__(self, manifest, build_inputs, dest, python):
        self.build_inputs, self.dest, self.python = build_inputs, dest, python
        self.env = python_env.clean_environment()
        self.builder = probe(python, self.env)
        self.key = manifest.environment_key
        if self.builder['description']['key'] != self.key:
            raise VerificationError('this builder\'s Python %s is of key %s; the build inputs %s are for key %s: name a builder '
                                    'of key %s' % (python, self.builder['description']['key'], build_inputs, self.key, self.key),
                                    builder_key=self.builder['description']['key'], build_inputs_key=self.key)
        by_name = dict((normalise_name(a.name), a) for a in manifest.artifacts if a.filename.endswith(SDIST_SUFFIXES))
        missing = [top.name for top in manifest.requirements if normalise_name(top.name) not in by_name]
        if missing:
            raise ManifestError('the build inputs %s hold no sdist of %s: rebuild them with wheel_cache'
                                % (build_inputs, ', '.join(missing)), build_inputs=build_inputs, packages=missing)
        self.sdists = [(top, by_name[normalise_name(top.name)]) for top in manifest.requirements]
        self.wheels = dict((normalise_name(a.name), a) for a in manifest.artifacts if a.filename.endswith('.whl'))

    def run(self, check_mode):
        entries = [recorded(os.path.join(self.dest, sdist.sha256), self.key) for _top, sdist in self.sdists]
        pending = [pair for pair, entry in zip(self.sdists, entries) if entry is None]
        provenance = {'key': self.key, 'python': self.builder['version'], 'glibc': self.builder['glibc'],
                      'compiler': self.preflight(pending) if pending else ''}
        for index, (top, sdist) in enumerate(self.sdists):
            if entries[index] is None:
                built_from = dict(provenance, sdist=sdist.filename, sdist_sha256=sdist.sha256)
                entries[index] = ({'name': top.name, 'version': sdist.version, 'built_from': built_from} if check_mode
                                  else self.build(top, sdist, built_from))
        return {'changed': bool(pending), 'key': self.key, 'wheels': entries}

    def preflight(self, pending):
        """Check what the builds need; raise one error naming every problem. Returns the compiler's first line or ''."""
        problems = []
        for tool in ('pip', 'wheel'):
            if tool not in self.wheels:
                problems.append({'package': tool, 'problem': 'the build inputs hold no %s wheel, which every build needs' % tool})
        # setuptools compiles with $CC when it is set, else with the compiler Python was built with.
        word = ((self.env.get('CC') or self.builder['cc'] or 'cc').split() or ['cc'])[0]
        cc = shutil.which(word, path=self.env.get('PATH', os.defpath))
        headers = os.path.isfile(os.path.join(self.builder['include'], 'Python.h'))
        for top, sdist in pending:
            what = '%s %s' % (top.name, sdist.version)
            try:
                members = sdist_members(os.path.join(self.build_inputs, sdist.filename))
            except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
                problems.append({'package': top.name, 'problem': '%s: the sdist %s cannot be read (%s): rebuild the build inputs'
                                 % (what, sdist.filename, exc)})
                continue
            native = [m for m in members if m.lower().endswith(NATIVE_SUFFIXES) or os.path.basename(m) == 'Cargo.toml']
            if native and not cc:
                problems.append({'package': top.name, 'problem': '%s has native sources (%s) and needs a C compiler, but %s is '
                                 'not found on PATH: %s' % (what, native[0], word, DEBIAN_HINT)})
            if native and not headers:
                problems.append({'package': top.name, 'problem': '%s has native sources (%s) and needs the Python headers, but '
                                 '%s has no Python.h: %s' % (what, native[0], self.builder['include'], DEBIAN_HINT)})
            absent = [name for name in top.closure if normalise_name(name) not in self.wheels and name != top.name]
            if absent:
                problems.append({'package': top.name, 'problem': '%s needs the build dependencies %s, which are not among the '
                                 'wheels of the build inputs: rebuild them with wheel_cache' % (what, ', '.join(absent))})
        if problems:
            raise AirgapError('cannot build the sdists of %s, nothing was built: %s'
                              % (self.build_inputs, '; '.join(p['problem'] for p in problems)), problems=problems)
        if not cc:
            return ''
        rc, out, err = process.run([cc, '--version'], self.env)
        return (out.strip().splitlines() or [''])[0] if rc == 0 else ''

    def build(self, top, sdist, built_from):
        """Build one sdist in a private directory under dest, then place the wheel and its record."""
        what = '%s %s' % (top.name, sdist.version)
        if not os.path.isdir(self.dest):
            os.makedirs(self.dest)
        work = private_tempdir(self.dest, WORK_PREFIX)
        try:
            out = os.path.join(work, 'wheels')
            os.mkdir(out)
            argv = [self.python, os.path.join(self.build_inputs, self.wheels['pip'].filename, 'pip'), 'wheel', '--no-index',
                    '--find-links', self.build_inputs, '--no-deps', '--isolated', '--no-cache-dir', '--disable-pip-version-check',
                    '--no-input', '--progress-bar', 'off', '-w', out, os.path.join(self.build_inputs, sdist.filename)]
            rc, stdout, stderr = process.run(argv, dict(self.env, HOME=work, TMPDIR=work, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH), cwd=work)
            if rc != 0:
                missing = _MISSING_DEPENDENCY.search(stdout + stderr)
                if missing:
                    raise InstallError('build dependency %s of %s is not among the build inputs (its build backend asked for '
                                       'it): add it to the build inputs with wheel_cache and ship them again'
                                       % (normalise_name(missing.group(1)), what), package=top.name, missing=missing.group(1))
                tail = (stdout + stderr).strip()[-OUTPUT_TAIL:]
                raise InstallError('pip could not build %s from %s (rc=%d): %s; fix what it names on this builder and run again'
                                   % (what, sdist.filename, rc, tail), package=top.name, output=tail)
            built = sorted(os.listdir(out))
            if len(built) != 1 or _wheel_name(built[0]) != top.name:
                raise InstallError('building %s from %s gave %s, not one wheel of %s'
                                   % (what, sdist.filename, ', '.join(built) or 'nothing', top.name), package=top.name, built=built)
            tags = wheeltags.wheel_file_tags(built[0])
            if not tags & set(self.builder['description']['tags']):
                raise VerificationError('the wheel %s built from %s does not fit the key %s (tags %s): the build backend '
                                        'targets another platform' % (built[0], sdist.filename, self.key, ', '.join(sorted(tags))),
                                        package=top.name, wheel=built[0])
            return _place(os.path.join(out, built[0]), os.path.join(self.dest, sdist.sha256), top, sdist, built_from)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _place(built, directory, top, sdist, built_from):
    filename = os.path.basename(built)
    entry = {'name': top.name, 'version': sdist.version, 'filename': filename, 'path': os.path.join(directory, filename),
             'sha256': sha256_file(built), 'size': os.path.getsize(built), 'built_from': built_from}
    record = os.path.join(directory, RECORD_NAME)
    try:
        if not os.path.isdir(directory):
            os.mkdir(directory)
        # The old record goes first: no moment where a record names a wheel it does not describe.
        if os.path.lexists(record):
            os.unlink(record)
        os.rename(built, entry['path'])
    except OSError as exc:
        raise AirgapError('cannot place the wheel %s in %s: %s' % (filename, directory, exc.strerror or exc), path=directory)
    atomic_write_bytes(record, json.dumps(entry, sort_keys=True, indent=2).encode('utf-8') + b'\n')
    return entry
