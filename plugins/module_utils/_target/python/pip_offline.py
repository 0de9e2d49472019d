# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install a verified wheel cache into a virtualenv or an interpreter, strictly offline and idempotently.

Runs on targets: standard library only (Python 3.8+). The order is fixed: read the manifest,
ask the target interpreter what it holds and which tags it takes, plan, verify what the plan
needs (sha256 and size, then each wheel's members), check that the environment's filesystem can
hold it, and only then (under the environment's lock) create the virtualenv, run pip or uv, and
confirm the result with a fresh probe and `pip check`. A run that fails after that point leaves
the environment as it was: a virtualenv it created is removed, an existing one is undone
(python_undo).
"""

import base64
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile

from . import python_env
from . import python_undo
from . import wheel_check
from .pep440 import compare_versions
from ..plans import (
    REMOVE, changes_as_dicts, plan_changes, plan_diff)
from ..._common.errors import AirgapError, InstallError, ManifestError, VerificationError
from ..._common.fsutil import (
    check_directory_to_write, environment_lock, is_own_file, mount_point, nearest_existing, private_tempdir)
from ..._common.manifest import load_manifest, verify_artifacts
from ..._common.scripts.interpreter_probe import normalise_name, read_record
from ..._common.signing import trust_from

# The packaging tools a virtualenv is seeded with: `sync` leaves them alone unless the cache pins them.
SEED_PACKAGES = ('pip', 'setuptools', 'wheel')
# Older pips lack options this module relies on (--require-hashes with --no-deps, --isolated, --only-binary).
MIN_PIP = '19.0'
# Free space a plan needs beyond the installed size of its wheels: a margin for what the estimate cannot see
# (installer metadata, directory growth), plus what a new virtualenv takes before pip is in it.
SPACE_MARGIN = 0.10
SPACE_SLACK = 1024 * 1024
NEW_VIRTUALENV_BYTES = 1024 * 1024
ENSUREPIP_BYTES = 24 * 1024 * 1024
# Files of the scripts directory up to this size are kept as copies during an install (see python_undo).
SCRIPT_COPY_LIMIT = 1024 * 1024
_ARCH_ALIASES = {'amd64': 'x86_64', 'arm64': 'aarch64', 'x64': 'x86_64'}


# A requirement as PEP 508 spells it: the project name, then what follows it (extras, versions, markers, URL).
_REQUIREMENT = re.compile(r"""^\s*([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\s*   # the project name
    ((?:\[[A-Z0-9._,\s-]*\])?\s*                                              # extras
     (?:\(?\s*(?:(?:~=|===|==|!=|<=|>=|<|>)\s*[A-Z0-9*+!._-]+\s*,?\s*)+\)?)?\s*   # versions
     (?:[;@].*)?)$                                                           # markers or a URL""",
                          re.IGNORECASE | re.DOTALL | re.VERBOSE)


def parse_package(option, text):
    """(PEP 503 name, the requirement text or None for a bare name) of one item of a packages option."""
    match = _REQUIREMENT.match(text or '')
    if not match:
        raise AirgapError('%s: %r is neither a project name nor a requirement: give the names of top-level requirements '
                          'of the cache (such as requests), or the requirements as the cache was built from them '
                          '(such as requests>=2.31)' % (option, text))
    return normalise_name(match.group(1)), text.strip() if match.group(2).strip() else None


def same_requirement(one, other):
    """True when two requirement texts differ only in whitespace and in how the project name is spelled."""
    def canonical(text):
        match = _REQUIREMENT.match(text)
        if not match:
            return re.sub(r'\s+', '', text)
        return normalise_name(match.group(1)) + re.sub(r'\s+', '', match.group(2) or '')
    return canonical(one) == canonical(other)


class Request:
    """The module's options, already validated by Ansible."""

    def __init__(self, cache, packages=None, virtualenv=None, python=None, state='present', sync=False, installer='auto',
                 compile_bytecode=True, break_system_packages=False, check_mode=False, tmpdir=None, trusted_keys=None):
        if virtualenv:
            check_directory_to_write('virtualenv', virtualenv)
        parsed = [parse_package('packages', p) for p in (packages or [])]
        self.cache = os.path.abspath(cache)
        self.packages = [name for name, _requirement in parsed]
        self.requirements = [requirement for _name, requirement in parsed if requirement]
        self.virtualenv = os.path.abspath(virtualenv) if virtualenv else None
        self.python = python
        self.state = state
        self.sync = sync
        self.installer = installer
        self.compile_bytecode = compile_bytecode
        self.break_system_packages = break_system_packages
        self.check_mode = check_mode
        self.tmpdir = tmpdir
        self.trusted_keys = trusted_keys


class Plan:
    """What one run would do: the changes, the artifacts they need, and how the environment looks before."""

    def __init__(self, changes, artifacts, state, create_virtualenv):
        self.changes = changes
        self.artifacts = artifacts
        self.state = state
        self.create_virtualenv = create_virtualenv

    @property
    def needed(self):
        """The artifacts that the plan installs (in plan order)."""
        return [self.artifacts[c.name] for c in self.changes if c.action != REMOVE]

    @property
    def removals(self):
        return [c.name for c in self.changes if c.action == REMOVE]


class PipOffline:
    """One pip_offline run: plan, verify, act, confirm."""

    def __init__(self, request, runner=None, warn=None):
        self.request = request
        self.runner = runner or python_env.Runner()
        self.warn = warn or (lambda message: None)
        self.manifest = load_manifest(request.cache, trust_from(request.trusted_keys))
        if self.manifest.ecosystem != 'python':
            raise ManifestError('%s holds a %s cache; pip_offline installs Python wheel caches'
                                % (request.cache, self.manifest.ecosystem))
        self.candidates = self._candidates()
        self.tools = dict((name, [a for a in self.manifest.artifacts if a.name == name]) for name in ('pip', 'uv'))
        self.verified = []
        self.contents = {}

    # ---- what the manifest asks for -------------------------------------------------------

    def _candidates(self):
        """{name: [artifacts]} for every name in the closure of the selected top-level requirements."""
        for requirement in self.request.requirements:
            recorded = [t.requirement for t in self.manifest.requirements]
            if not any(same_requirement(requirement, other) for other in recorded):
                raise VerificationError(
                    'packages: the cache %s was not built for the requirement %r (it was built for %s); nothing was '
                    'installed. Give the requirement as the cache was built from it, or its project name alone.'
                    % (self.request.cache, requirement, ', '.join(repr(r) for r in recorded) or 'no requirement'),
                    requirement=requirement)
        selected = self.manifest.artifacts_for(self.request.packages)
        tops = [t for t in self.manifest.requirements if not self.request.packages or t.name in self.request.packages]
        names = set()
        for top in tops:
            names.update(top.closure)
        if not tops:
            names = set(a.name for a in selected)
        by_name = dict((name, []) for name in names)
        for artifact in selected:
            if artifact.name in by_name:
                by_name[artifact.name].append(artifact)
        missing = sorted(name for name, found in by_name.items() if not found)
        if missing:
            needing = sorted(t.name for t in tops if set(t.closure) & set(missing))
            raise VerificationError(
                'the manifest of %s lists %s in the dependencies of %s but holds no artifact for %s; nothing was installed. '
                'Rebuild the cache.' % (self.request.cache, ', '.join(missing), ', '.join(needing),
                                        'them' if len(missing) > 1 else 'it'),
                missing=missing)
        return by_name

    @property
    def top_names(self):
        return self.request.packages or sorted(t.name for t in self.manifest.requirements)

    def _tool_candidates(self):
        return [a for artifacts in self.tools.values() for a in artifacts]

    # ---- target -------------------------------------------------------------------------

    @property
    def base_python(self):
        return self.request.python or sys.executable

    @property
    def target_python(self):
        if self.request.virtualenv:
            return python_env.venv_python(self.request.virtualenv)
        return self.request.python

    def _venv_exists(self):
        return bool(self.request.virtualenv) and python_env.is_virtualenv(self.request.virtualenv)

    def _check_names(self):
        """The distributions whose dist-info is checked for damage: those the plan may touch ('*' with sync)."""
        if self.request.sync:
            return '*'
        return sorted(set(self.candidates) | set(self.top_names))

    def _probe(self, tags_from=None, with_tags=True):
        """Probe the target (or, before its virtualenv exists, the base interpreter); tags unless tags_from has them."""
        exists = not self.request.virtualenv or self._venv_exists()
        filenames = None
        if tags_from is None and with_tags:
            filenames = sorted(set(a.filename for artifacts in self.candidates.values() for a in artifacts)
                               | set(a.filename for a in self._tool_candidates()))
        python = self.target_python if exists else self.base_python
        state = None
        check = self._check_names() if exists else None
        if exists and self.request.virtualenv:
            state = python_env.read_state(python, self.request.virtualenv, filenames, check)
        if state is None:
            state = python_env.probe(python, self.runner, filenames=filenames, capabilities=not exists, check=check)
        if tags_from is not None:
            state.tags = tags_from.tags
        return state, exists

    # ---- planning -----------------------------------------------------------------------

    def _choose(self, state):
        """The one artifact per name that this interpreter installs best; VerificationError when none fits,
        or when the manifest was built for another interpreter (whatever the environment already holds)."""
        self._check_environment(state)
        chosen, unfit = {}, []
        for name in sorted(self.candidates):
            fitting, problems = [], []
            for artifact in self.candidates[name]:
                path = os.path.join(self.request.cache, artifact.filename)
                tags = state.file_tags(artifact.filename)
                if not artifact.filename.endswith('.whl'):
                    problems.append({'file': path, 'problem': 'not a wheel'})
                elif tags and tags['compatible']:
                    fitting.append((tags['rank'], artifact))
                else:
                    problems.append({'file': path, 'problem': 'incompatible tags',
                                     'tags': tags['tags'] if tags else [artifact.platform]})
            if fitting:
                fitting.sort(key=lambda pair: (pair[0] is None, pair[0]))
                chosen[name] = fitting[0][1]
            else:
                unfit.extend(problems)
        if unfit:
            sample = ', '.join((state.tags or {}).get('supported_sample', []))
            raise VerificationError(
                'no artifact in %s fits the interpreter %s (Python %s, accepts e.g. %s), nothing was installed: %s. '
                'Rebuild the cache for this environment key.'
                % (self.request.cache, state.executable, state.version, sample or 'no wheel tags',
                   '; '.join(_describe_unfit(p) for p in unfit)),
                problems=unfit, interpreter=state.executable)
        return chosen

    def _check_environment(self, state):
        """VerificationError when the manifest records a Python version, implementation or architecture that this
        interpreter does not have: its closure was resolved for that interpreter, even where pure wheels fit by tags."""
        environment = self.manifest.environment
        tags = state.tags or {}
        have = {
            'version': tags.get('python') or '.'.join(str(state.version).split('.')[:2]),
            'implementation': (tags.get('implementation') or state.implementation or '').lower(),
            'arch': _arch(tags.get('arch') or ''),
        }
        want = {
            'version': '.'.join(str(environment.get('version') or '').split('.')[:2]),
            'implementation': str(environment.get('implementation') or '').lower(),
            'arch': _arch(str(environment.get('arch') or '')),
        }
        differ = [field for field in ('version', 'implementation', 'arch') if want[field] and have[field] and want[field] != have[field]]
        if not differ:
            return
        labels = {'version': 'Python %s', 'implementation': '%s', 'arch': '%s'}
        cache_tags = [t for t in environment.get('tags') or [] if isinstance(t, str)][:3]
        native = sorted(a.filename for a in self.manifest.artifacts if a.native)
        raise VerificationError(
            'the cache %s was built for %s (environment key %s%s%s), not for the interpreter %s (%s, accepts e.g. %s); '
            'nothing was installed. Ship the cache built for this environment key, or rebuild it for this interpreter.'
            % (self.request.cache, ', '.join(labels[f] % want[f] for f in differ), self.manifest.environment_key or 'none',
               ', tags e.g. %s' % ', '.join(cache_tags) if cache_tags else '',
               '; its platform wheels: %s' % ', '.join(native) if native else '', state.executable,
               ', '.join(labels[f] % have[f] for f in differ), ', '.join(tags.get('supported_sample', [])) or 'no wheel tags'),
            problems=[{'problem': 'environment mismatch', 'field': f, 'cache': want[f], 'interpreter': have[f]} for f in differ],
            interpreter=state.executable, files=native)

    def _tool(self, name, state):
        """The cached wheel of pip or uv that fits this interpreter, or None."""
        if state.tags is None and self.tools.get(name):
            # A plan that installs nothing (state=absent, sync removals) was made without tags.
            filenames = [a.filename for a in self._tool_candidates()]
            probed = python_env.read_state(state.python, self.request.virtualenv, filenames) if self.request.virtualenv else None
            state.tags = (probed or python_env.probe(state.python, self.runner, filenames=filenames)).tags
        fitting = []
        for artifact in self.tools.get(name, []):
            tags = state.file_tags(artifact.filename)
            if tags and tags['compatible']:
                fitting.append((tags['rank'], artifact))
        fitting.sort(key=lambda pair: (pair[0] is None, pair[0]))
        return fitting[0][1] if fitting else None

    def plan(self, seed_pip=False, tags_from=None):
        """The plan against the environment as it is now.

        seed_pip adds the cached pip (for a virtualenv this run created); tags_from reuses the tag
        report of an earlier probe of the same interpreter.
        """
        if self.request.state == 'absent':
            # Removing needs no artifact, so neither tags nor a cache for this platform.
            state, exists = self._probe(with_tags=False)
            return self._plan_for(state, exists, False, {})
        # Tags are checked on every run, converged or not: an environment that already holds the pinned
        # versions is still not in line with a cache built for another interpreter.
        state, exists = self._probe(tags_from)
        return self._plan_for(state, exists, seed_pip, self._choose(state))

    def _plan_for(self, state, exists, seed_pip, chosen):
        create = bool(self.request.virtualenv) and not exists
        if self.request.state == 'absent':
            if create:
                return Plan([], chosen, state, False)
            removable = state.removable()
            outside = [n for n in self.top_names if n in state.visible() and n not in removable]
            for name in outside:
                self.warn('%s is installed outside %s (%s) and is left alone' % (name, state.purelib, state.visible()[name]))
            remove = [n for n in self.top_names if n in removable]
            return Plan(plan_changes({}, removable, remove=remove, broken=state.broken()), chosen, state, False)
        desired = dict((name, artifact.version) for name, artifact in chosen.items())
        installed = {} if create else _align_versions(state.visible(), desired)
        if create or seed_pip:
            pip_wheel = self._tool('pip', state)
            if pip_wheel is not None and 'pip' not in desired:
                # A new virtualenv gets pip, as `python -m venv` would give it, but from the verified cache.
                desired['pip'] = pip_wheel.version
                chosen['pip'] = pip_wheel
        remove = ()
        if self.request.sync and not create:
            remove = [n for n in state.removable() if n not in desired and n not in SEED_PACKAGES]
        broken = {} if create else state.broken()
        return Plan(plan_changes(desired, installed, remove=remove, broken=broken), chosen, state, create)

    # ---- verification -------------------------------------------------------------------

    def verify(self, artifacts):
        """Size and sha256 of each artifact against the manifest, then each wheel's members (wheel_check), once per run per file."""
        todo = [a for a in artifacts if a.filename not in self.verified]
        if todo:
            verify_artifacts(self.request.cache, todo)
            for artifact in todo:
                self.contents[artifact.filename] = wheel_check.check_wheel(
                    os.path.join(self.request.cache, artifact.filename), artifact.name, artifact.version)
            self.verified.extend(a.filename for a in todo)

    def preflight(self, plan):
        """InstallError before anything is written when a filesystem the plan writes to lacks the space or inodes it needs.

        What is needed: every file of the planned wheels rounded up to the filesystem's block, a .pyc
        beside each .py when compiling, a directory block each, plus SPACE_MARGIN and SPACE_SLACK; on the
        environment's filesystem, and for uv also on the temporary directory's when that is another one.
        """
        contents = [self.contents[a.filename] for a in plan.needed if a.filename in self.contents]
        if not contents:
            return
        target = self.request.virtualenv or plan.state.purelib
        needs = []
        extra = 0
        if plan.create_virtualenv:
            extra = NEW_VIRTUALENV_BYTES + (ENSUREPIP_BYTES if self._tool('pip', plan.state) is None and plan.state.has_ensurepip else 0)
        needs.append((target, self.request.compile_bytecode, extra))
        if self.request.tmpdir and self._may_use_uv(plan.state):
            needs.append((self.request.tmpdir, False, 0))  # uv unpacks into its cache there, then links or copies
        lacking, seen = [], set()
        for path, compiled, extra in needs:
            anchor = nearest_existing(path)
            info = os.stat(anchor)
            if info.st_dev in seen:
                continue
            seen.add(info.st_dev)
            fs = os.statvfs(anchor)
            block = fs.f_frsize or fs.f_bsize or 4096
            installed = sum(c.installed_bytes(block, compiled) for c in contents)
            required = int((installed + extra) * (1 + SPACE_MARGIN)) + SPACE_SLACK
            available = fs.f_bavail * fs.f_frsize
            inodes = sum(c.installed_inodes(compiled) for c in contents)
            short_inodes = fs.f_files > 0 and fs.f_favail < inodes
            if required > available or short_inodes:
                lacking.append({'path': mount_point(anchor), 'for': path, 'required': required, 'available': available,
                                'installed_size': installed, 'inodes_required': inodes,
                                'inodes_available': fs.f_favail if fs.f_files > 0 else None})
        if lacking:
            raise InstallError(
                'not enough space to install into %s, nothing was installed: %s. Free space there, or install into a '
                'virtualenv on a bigger filesystem.' % (target, '; '.join(_describe_lack(item, len(contents)) for item in lacking)),
                space=lacking)

    def _may_use_uv(self, state):
        if self.request.installer == 'pip':
            return False
        return self.request.installer == 'uv' or self._tool('uv', state) is not None

    # ---- acting -------------------------------------------------------------------------

    def run(self):
        if self.request.check_mode:
            plan = self.plan()
            self.verify(plan.needed)
            if plan.changes and not self.request.virtualenv:
                self._break_system(plan.state)  # check mode fails where the real run would
            if plan.changes:
                self.preflight(plan)
            return self._result(plan, installer=None, created=None)
        if self.request.virtualenv:
            if not self._venv_exists():
                plan = self.plan()
                if self.request.state == 'absent' and not plan.changes:
                    return self._result(plan, installer=None, created=None)  # nothing to remove, nothing to lock
                if plan.create_virtualenv:
                    # Verify before the lock creates anything beside the virtualenv-to-be. A plan made
                    # outside the lock is never reported: another run may be creating the virtualenv now.
                    self.verify(plan.needed)
                    self.preflight(plan)
            # A virtualenv's lock is known before anything is read: an existing one is probed once, under it.
            with environment_lock(self.request.virtualenv):
                return self._run_locked(self.plan())
        plan = self.plan()
        if not plan.changes:
            return self._result(plan, installer=None, created=None)
        self.verify(plan.needed)
        self.preflight(plan)
        with environment_lock(plan.state.purelib):
            # Another run may have changed the environment while this one waited for the lock.
            return self._run_locked(self.plan(tags_from=plan.state))

    def _run_locked(self, plan):
        self.verify(plan.needed)
        if plan.create_virtualenv:
            return self._run_in_new_virtualenv(plan)
        if not plan.changes:
            return self._result(plan, installer=None, created=None)
        self.preflight(plan)
        backend = self._backend(plan.state)
        undo = python_undo.Undo.prepare(self._roots(plan.state), self._at_stake(plan), copy=self._scripts(plan.state))
        try:
            purged = self._purge_broken(plan)
            check = self._apply(plan, backend, purged)
            self._confirm(plan, backend, check)
        except BaseException as exc:
            self._undo(undo, exc)
            raise
        undo.discard()
        return self._result(plan, installer=backend.name, created=None)

    def _run_in_new_virtualenv(self, plan):
        """Create the virtualenv and install into it; on any failure the virtualenv goes again, so nothing half-made stays."""
        self.preflight(plan)
        path = self.request.virtualenv
        existed = os.path.isdir(path)
        created = self._create_virtualenv(plan)
        try:
            plan = self.plan(seed_pip=True, tags_from=plan.state)
            self.verify(plan.needed)
            if not plan.changes:
                return self._result(plan, installer=None, created=created)
            backend = self._backend(plan.state)
            check = self._apply(plan, backend)
            self._confirm(plan, backend, check)
        except BaseException as exc:
            python_env.remove_created(path, existed)
            if isinstance(exc, AirgapError):
                _amend(exc, 'the virtualenv %s that this run created was removed again' % path)
            elif isinstance(exc, (IOError, OSError)):
                raise _os_failure(exc, path, 'the virtualenv %s that this run created was removed again' % path)
            raise
        return self._result(plan, installer=backend.name, created=created)

    def _roots(self, state):
        """The directories an install writes to: the virtualenv, or an interpreter's site and script directories."""
        if self.request.virtualenv:
            return [self.request.virtualenv]
        roots = []
        for path in (state.purelib, state.platlib, state.scripts):
            if path and not python_env.within(os.path.abspath(path), roots):
                roots.append(os.path.abspath(path))
        return roots

    def _at_stake(self, plan):
        """Existing files the run may replace or remove: those of every distribution it touches (by RECORD and in its
        dist-info), and those its wheels are written over."""
        state = plan.state
        paths = set()
        for change in plan.changes:
            distribution = state.distribution(change.name)
            if distribution is None or not distribution.in_environment:
                continue
            site = os.path.dirname(distribution.path)
            try:
                rows = read_record(distribution.path)
            except (IOError, OSError, ValueError):
                rows = []
            paths.update(os.path.abspath(os.path.join(site, row[0])) for row in rows)
            for directory, _dirs, files in os.walk(distribution.path):
                paths.update(os.path.join(directory, name) for name in files)
        scheme = state.scheme()
        for artifact in plan.needed:
            contents = self.contents.get(artifact.filename)
            if contents is not None:
                paths.update(contents.targets(scheme))
        paths.update(self._scripts(state, small=False))
        return paths

    @staticmethod
    def _scripts(state, small=True):
        """The small (or else the other) files of the scripts directory: entry points of any name may be written there,
        some in place, so the small ones, which scripts are, are kept as copies."""
        if not state.scripts or not os.path.isdir(state.scripts):
            return []
        found = []
        for name in os.listdir(state.scripts):
            path = os.path.join(state.scripts, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_size <= SCRIPT_COPY_LIMIT) == small:
                found.append(path)
        return found

    def _purge_broken(self, plan):
        """Take away the broken distributions the plan repairs: pip and uv would see them as installed (or fail to uninstall them)."""
        broken = plan.state.broken()
        roots = self._roots(plan.state)
        purged = set()
        for change in plan.changes:
            if change.name in broken:
                python_env.remove_broken_distribution(broken[change.name], roots)
                purged.add(change.name)
        return purged

    def _undo(self, undo, exc):
        """Put the environment back after exc; amends the error with what was done, or raises what undoing could not do."""
        target = self.request.virtualenv or undo.roots[0]
        try:
            removed, restored, lost = undo.undo()
        except (IOError, OSError) as failure:
            note = ('undoing the run failed too (%s): %s may hold part of this run; the next run repairs what the plan finds '
                    'broken' % (failure, target))
        else:
            undo.discard()
            if lost:
                note = ('%s was put back except %s, which the run changed and no copy was kept of'
                        % (target, ', '.join(sorted(lost)[:5])))
            else:
                note = ('%s was restored to its state before this run (%d paths removed, %d put back)'
                        % (target, len(removed), len(restored)))
            if _no_space(exc):
                note += '; its filesystem has %s free now' % _mib(_free_bytes(target))
        if isinstance(exc, AirgapError):
            _amend(exc, note)
        elif isinstance(exc, (IOError, OSError)):
            raise _os_failure(exc, target, note)

    def _create_virtualenv(self, plan):
        pip_wheel = self._tool('pip', plan.state)
        seed_with_ensurepip = pip_wheel is None and bool(plan.state.has_ensurepip)
        return python_env.create_virtualenv(self.request.virtualenv, self.base_python, plan.state, self.runner,
                                            seed_pip_with_ensurepip=seed_with_ensurepip)

    def _backend(self, state):
        uv_wheel = self._tool('uv', state)
        if self.request.installer == 'uv' or (self.request.installer == 'auto' and uv_wheel is not None):
            if uv_wheel is None:
                raise InstallError('installer=uv but %s holds no uv wheel that runs here; add uv to the cache requirements '
                                   'or use installer=pip' % self.request.cache)
            # A throwaway uv cache for this run, for every uv command: nothing an earlier run cached is
            # trusted, and hardlinks from it (usually the same filesystem) are uv's fastest way in.
            cache_dir = os.path.join(private_tempdir(self.request.tmpdir, 'airgap-uv-cache-'), 'cache')
            return UvBackend(self._uv_binary(uv_wheel), state, self.runner, cache_dir)
        visible = state.visible()
        pip_wheel = self._tool('pip', state)
        if 'pip' in visible and compare_versions(visible['pip'], MIN_PIP) >= 0:
            return PipBackend(state.python, None, self.runner)
        if pip_wheel is not None:
            self.verify([pip_wheel])
            return PipBackend(state.python, os.path.join(self.request.cache, pip_wheel.filename), self.runner)
        raise InstallError('%s has no pip (%s or newer) and %s holds no pip or uv wheel; add pip to the cache requirements'
                           % (state.python, MIN_PIP, self.request.cache), interpreter=state.python)

    def _uv_binary(self, uv_wheel):
        """The uv binary of the cached uv wheel; uv is never installed in the target.

        Extracted from the verified wheel and checked against the wheel's RECORD, it is kept per
        wheel sha256 in a private directory of the remote user (~/.cache/airgap-packages/uv-<sha256>)
        with a stamp of its size, mtime and inode; later runs use it while the stamp holds, without
        reading the wheel. Where no private directory can be had, it goes to this run's temp dir.
        """
        kept = _private_tools_dir(uv_wheel.sha256)
        if kept is not None and _stamp_holds(kept, 'uv'):
            return os.path.join(kept, 'uv')
        self.verify([uv_wheel])
        with zipfile.ZipFile(os.path.join(self.request.cache, uv_wheel.filename)) as wheel:
            member, expected = _uv_member(wheel, uv_wheel.filename)
            if kept is not None:
                try:
                    binary = _extract_checked(wheel, member, expected, os.path.join(kept, 'uv'))
                    _write_stamp(kept, 'uv')
                    return binary
                except (IOError, OSError):
                    pass
            binary = os.path.join(private_tempdir(self.request.tmpdir, 'airgap-uv-'), 'uv')
            return _extract_checked(wheel, member, expected, binary)

    def _apply(self, plan, backend, purged=()):
        """Run the installer for the plan; returns the installer's check result when it ran it in the same step.

        purged: names whose broken distribution is already gone (see _purge_broken), so not for the installer to remove.
        """
        work = private_tempdir(self.request.tmpdir, 'airgap-pip-')
        break_system = self._break_system(plan.state)
        check = None
        removals = [name for name in plan.removals if name not in purged]
        if removals:
            backend.uninstall(removals, break_system)
        needed = plan.needed
        if needed:
            links = os.path.join(work, 'links')
            os.mkdir(links, 0o700)
            lines = []
            for artifact in needed:
                # Only the planned, verified files are visible to the installer: nothing else in the cache can be picked.
                os.symlink(os.path.join(self.request.cache, artifact.filename), os.path.join(links, artifact.filename))
                lines.append('%s==%s --hash=sha256:%s\n' % (artifact.name, artifact.version, artifact.sha256))
            requirements = os.path.join(work, 'requirements.txt')
            with open(requirements, 'w') as handle:
                handle.write(''.join(lines))
            # A pip that replaced itself cannot check in the same process; pip run from its wheel can.
            with_check = 'pip' not in [c.name for c in plan.changes] or getattr(backend, 'wheel', None) is not None
            check = backend.install(requirements, links, work, self.request.compile_bytecode, break_system, with_check)
        return check

    def _break_system(self, state):
        if not state.externally_managed:
            return False
        if not self.request.break_system_packages:
            raise InstallError('%s is externally managed (PEP 668): install into a virtualenv, or set '
                               'break_system_packages=true to install into it anyway' % state.executable,
                               interpreter=state.executable)
        return True

    def _confirm(self, plan, backend, check=None):
        """A fresh probe must show the plan done (no touched distribution broken), and the installer's check must pass."""
        touched = sorted(c.name for c in plan.changes)
        state = None
        if self.request.virtualenv:
            state = python_env.read_virtualenv(self.request.virtualenv, touched)
        state = state or python_env.probe(plan.state.python, self.runner, check=touched)
        after, broken = state.visible(), state.broken()
        wrong = []
        for change in plan.changes:
            have = after.get(change.name)
            if change.action == REMOVE:
                if have is not None and change.name in plan.state.removable():
                    wrong.append('%s still installed (%s)' % (change.name, have))
            elif have is None or compare_versions(have, change.after) != 0:
                wrong.append('%s is %s, expected %s' % (change.name, have or 'absent', change.after))
            elif change.name in broken:
                wrong.append('%s %s is installed but broken (%s)' % (change.name, have, broken[change.name].problem))
        if wrong:
            raise InstallError('%s reported success but the environment does not match the plan: %s'
                               % (backend.name, '; '.join(wrong)), changes=changes_as_dicts(plan.changes))
        rc, output = check if check is not None else backend.check()
        if rc == 0:
            return
        managed = set(plan.artifacts) | set(c.name for c in plan.changes)
        relevant, unrelated = check_problems(output, managed)
        if relevant or not unrelated:
            raise InstallError('%s check failed after the install, the environment has broken requirements: %s'
                               % (backend.name, '; '.join(relevant) or _quiet(output)[-3000:]),
                               changes=changes_as_dicts(plan.changes))
        # An interpreter's own packages may be broken already (Debian's pygobject without pycairo
        # metadata): reported, not blamed on this install, which touched none of them.
        self.warn('%s check reports broken requirements among packages this task does not manage: %s'
                  % (backend.name, '; '.join(unrelated)))

    def _result(self, plan, installer, created):
        changes = changes_as_dicts(plan.changes)
        state = plan.state
        interpreter = self.target_python if self.request.virtualenv else state.executable
        return {
            'changed': bool(plan.changes) or bool(created) or (plan.create_virtualenv and self.request.check_mode),
            'changes': changes,
            'interpreter': interpreter,
            'python_version': state.version,
            'installer': installer,
            'manifest_digest': self.manifest.digest,
            'environment_key': self.manifest.environment_key,
            'virtualenv': self.request.virtualenv,
            'virtualenv_created': bool(created) or (plan.create_virtualenv and self.request.check_mode),
            'site_packages': state.purelib if (not plan.create_virtualenv or created) else None,
            'verified': sorted(self.verified),
            'broken': self._broken_report(plan),
            'diff': plan_diff(plan.changes),
        }

    @staticmethod
    def _broken_report(plan):
        broken = plan.state.broken()
        return [{'name': name, 'version': broken[name].version, 'path': broken[name].path, 'problem': broken[name].problem}
                for name in sorted(set(c.name for c in plan.changes) & set(broken))]


_CHECK_LINES = (
    re.compile(r'^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) \S+ (?:requires|has requirement) (?P<dep>[A-Za-z0-9][A-Za-z0-9._-]*)'),
    re.compile(r'^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) \S+ is not supported on this platform'),
    re.compile(r'The package `(?P<name>[^`]+)` requires `(?P<dep>[A-Za-z0-9][A-Za-z0-9._-]*)'),
)


def check_problems(output, managed):
    """Lines of pip/uv check output that name a managed package (as dependent or dependency), and the others."""
    relevant, unrelated = [], []
    for line in output.splitlines():
        line = line.strip()
        for pattern in _CHECK_LINES:
            match = pattern.search(line)
            if match:
                names = set(normalise_name(v) for v in match.groupdict().values() if v)
                (relevant if names & managed else unrelated).append(line)
                break
    return relevant, unrelated


def _quiet(output):
    return '\n'.join(line for line in output.strip().splitlines() if not line.startswith("WARNING: Running pip as the 'root' user"))


def _align_versions(installed, desired):
    """Installed versions that equal the desired one under version comparison count as that version (1.0 == 1.0.0)."""
    aligned = dict(installed)
    for name, want in desired.items():
        have = aligned.get(name)
        if have is not None and have != want and compare_versions(have, want) == 0:
            aligned[name] = want
    return aligned


def _arch(value):
    value = value.lower().replace('-', '_')
    return _ARCH_ALIASES.get(value, value)


def _mib(size):
    return '%.1f MiB' % (size / 1048576.0)


def _describe_lack(item, wheels):
    what = []
    if item['required'] > item['available']:
        what.append('needs %s for %d wheels (%s installed, plus a %d%% margin), %s are available'
                    % (_mib(item['required']), wheels, _mib(item['installed_size']), int(SPACE_MARGIN * 100), _mib(item['available'])))
    if item['inodes_available'] is not None and item['inodes_required'] > item['inodes_available']:
        what.append('needs %d inodes, %d are available' % (item['inodes_required'], item['inodes_available']))
    return 'the filesystem at %s (holding %s) %s' % (item['path'], item['for'], ' and '.join(what))


def _free_bytes(path):
    try:
        fs = os.statvfs(nearest_existing(path))
    except OSError:
        return 0
    return fs.f_bavail * fs.f_frsize


def _no_space(exc):
    return getattr(exc, 'errno', None) == errno.ENOSPC or 'No space left on device' in str(getattr(exc, 'msg', exc))


def _amend(exc, note):
    """Add what was done about a failure to its error message."""
    exc.msg = '%s; %s' % (exc.msg.rstrip('. '), note)
    exc.args = (exc.msg,)


def _os_failure(exc, target, note):
    if exc.errno == errno.ENOSPC:
        return InstallError('no space left on the device holding %s (%s) while installing; %s' % (target, exc, note))
    return InstallError('changing %s failed: %s; %s' % (target, exc, note))


def _describe_unfit(problem):
    if problem['problem'] == 'not a wheel':
        return '%s: not a wheel (only binary wheels are installed offline; let wheel_cache build it)' % problem['file']
    return '%s: tags %s' % (problem['file'], ', '.join(problem['tags']))


def _uv_member(wheel, filename):
    """The uv binary's member name in the wheel and its sha256 as RECORD states it."""
    members = [n for n in wheel.namelist() if n.endswith('.data/scripts/uv')]
    records = [n for n in wheel.namelist() if n.endswith('.dist-info/RECORD')]
    if not members or not records:
        raise InstallError('%s holds no uv binary (*.data/scripts/uv) or no RECORD; rebuild the cache' % filename)
    for line in wheel.read(records[0]).decode('utf-8').splitlines():
        parts = line.rsplit(',', 2)
        if len(parts) == 3 and parts[0] == members[0] and parts[1].startswith('sha256='):
            return members[0], parts[1][len('sha256='):]
    raise InstallError('the RECORD of %s has no sha256 for %s; rebuild the cache' % (filename, members[0]))


def _record_digest(path):
    """sha256 of a file in RECORD's form (urlsafe base64, no padding)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b''):
            digest.update(chunk)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b'=').decode('ascii')


def _private_tools_dir(key):
    """~/.cache/airgap-packages/uv-<key>, created 0700; None unless it is owned by this user and private."""
    parent = os.path.join(os.path.expanduser('~'), '.cache', 'airgap-packages')
    path = os.path.join(parent, 'uv-%s' % key[:16])
    try:
        for directory in (parent, path):
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o700)
            info = os.lstat(directory)
            if info.st_uid != os.geteuid() or info.st_mode & 0o077 or not stat.S_ISDIR(info.st_mode):
                return None
    except (IOError, OSError):
        return None
    return path


def _stamp_text(path):
    info = os.lstat(path)
    return '%d %d %d\n' % (info.st_size, info.st_mtime_ns, info.st_ino)


def _write_stamp(directory, name):
    """Record size, mtime and inode of a checked tool, so that later runs can trust it without hashing it."""
    with open(os.path.join(directory, name + '.stamp'), 'w') as handle:
        handle.write(_stamp_text(os.path.join(directory, name)))


def _stamp_holds(directory, name):
    """True when the tool is the very file that was checked (same size, mtime and inode), private to this user."""
    path = os.path.join(directory, name)
    try:
        with open(path + '.stamp') as handle:
            stamp = handle.read()
        info = os.lstat(path)
    except (IOError, OSError):
        return False
    return is_own_file(info) and stamp == _stamp_text(path)


def _extract_checked(wheel, member, expected, binary):
    """Extract member to binary through a temp file, keep it only when its digest is the expected one."""
    fd, tmp = tempfile.mkstemp(prefix='.uv-', dir=os.path.dirname(binary))
    try:
        with os.fdopen(fd, 'wb') as target:
            with wheel.open(member) as source:
                shutil.copyfileobj(source, target, 1024 * 1024)
        if _record_digest(tmp) != expected:
            raise InstallError('the uv binary extracted from its verified wheel does not match the wheel RECORD')
        os.chmod(tmp, 0o700)
        os.rename(tmp, binary)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return binary


PIP_FROM_WHEEL = 'import sys; sys.path.insert(0, sys.argv.pop(1)); from pip._internal.cli.main import main; sys.exit(main())'


def pip_from_wheel(python, wheel):
    """argv prefix that runs pip straight from its wheel (a wheel is an importable zip) with python."""
    return [python, '-I', '-c', PIP_FROM_WHEEL, wheel]


CHECK_MARK = '@@airgap-pip-check@@'
# Runs pip install then pip check in one interpreter (pip's start-up is a good part of a check);
# the check modules are imported before the install, as pip requires.
PIP_DRIVER = r"""
import json, sys
wheel, install, check = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
if wheel:
    sys.path.insert(0, wheel)
from pip._internal.cli.main import main
import pip._internal.commands.check, pip._internal.operations.check
rc = main(install)
if rc:
    sys.exit(rc)
sys.stdout.write("\n%s\n" % "@@airgap-pip-check@@")
sys.stdout.flush()
sys.exit(86 if main(check) else 0)
"""
CHECK_ARGS = ['check', '--isolated', '--disable-pip-version-check']


class PipBackend:
    """pip of the environment (wheel None) or pip run from its cached wheel."""

    name = 'pip'

    def __init__(self, python, wheel, runner):
        self.python = python
        self.wheel = wheel
        self.runner = runner

    def _argv(self, args):
        if self.wheel:
            return pip_from_wheel(self.python, self.wheel) + args
        return [self.python, '-I', '-m', 'pip'] + args

    def _run(self, argv, what):
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise InstallError('pip %s failed (rc=%d): %s' % (what, rc, (err or out).strip()[-3000:]), command=argv)
        return out

    def install(self, requirements, links, work, compile_bytecode, break_system, with_check=False):
        args = ['install', '--isolated', '--no-index', '--find-links', links, '--no-deps', '--require-hashes',
                '--only-binary', ':all:', '--no-cache-dir', '--disable-pip-version-check', '--no-input',
                '--no-warn-script-location', '--progress-bar', 'off', '-r', requirements]
        if not compile_bytecode:
            args.append('--no-compile')
        if break_system:
            args.append('--break-system-packages')
        if not with_check:
            self._run(self._argv(args), 'install')
            return None
        argv = [self.python, '-I', '-c', PIP_DRIVER, self.wheel or '', json.dumps(args), json.dumps(CHECK_ARGS)]
        rc, out, err = self.runner(argv)
        if CHECK_MARK not in out:
            raise InstallError('pip install failed (rc=%d): %s' % (rc, (err or out).strip()[-3000:]), command=argv[:3] + argv[4:])
        return (0 if rc == 0 else 1), out.split(CHECK_MARK, 1)[1] + err

    def uninstall(self, names, break_system):
        args = ['uninstall', '--isolated', '--yes', '--disable-pip-version-check', '--no-input'] + list(names)
        if break_system:
            args.append('--break-system-packages')
        return self._run(self._argv(args), 'uninstall')

    def check(self):
        rc, out, err = self.runner(self._argv(CHECK_ARGS))
        return rc, out + err


class UvBackend:
    name = 'uv'

    def __init__(self, binary, state, runner, cache_dir):
        self.binary = binary
        self.state = state
        self.runner = runner
        self.cache_dir = cache_dir

    def _common(self):
        return ['--python', self.state.python, '--no-config', '--offline', '--quiet', '--cache-dir', self.cache_dir]

    def _run(self, argv, what):
        rc, out, err = self.runner([self.binary, 'pip'] + argv)
        if rc != 0:
            raise InstallError('uv pip %s failed (rc=%d): %s' % (what, rc, (err or out).strip()[-3000:]),
                               command=[self.binary, 'pip'] + argv)
        return out

    def install(self, requirements, links, work, compile_bytecode, break_system, with_check=False):
        argv = ['install'] + self._common() + [
            '--no-index', '--find-links', links, '--no-deps', '--require-hashes', '--no-build',
            '--link-mode', 'hardlink', '-r', requirements]
        if compile_bytecode:
            argv.append('--compile-bytecode')
        if break_system:
            argv.append('--break-system-packages')
        self._run(argv, 'install')
        return None

    def uninstall(self, names, break_system):
        argv = ['uninstall'] + self._common() + list(names)
        if break_system:
            argv.append('--break-system-packages')
        return self._run(argv, 'uninstall')

    def check(self):
        rc, out, err = self.runner([self.binary, 'pip', 'check'] + self._common())
        return rc, out + err
