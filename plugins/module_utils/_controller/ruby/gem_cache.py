# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build verified gem caches, one directory per target environment: <dest>/<key>/*.gem + manifest.json.

Controller only. The flow per environment key:
1. Read the previous manifest. When it already answers the same request (same environment,
   top-level requirements, Gemfile.lock selection and sources) and every file verifies, stop:
   no source is contacted and nothing is written. current_gem_caches answers this step alone,
   for the action plugin that spares a current cache the module run.
2. Otherwise resolve the closure with RubyGems for the target platform and Ruby (preferring
   the versions the cache holds), and plan: files to add, files to drop, files to reuse.
3. Fetch only the missing files into a private staging directory, check them, link them into
   the cache, then replace manifest.json atomically. Until that rename the previous manifest
   and every file it lists stay untouched, so an interrupted or failed build leaves them intact.
4. Prune files the manifest no longer lists (when asked).
"""

import os
import shutil
from collections import namedtuple
from contextlib import ExitStack

from .gem_resolver import DEFAULT_SOURCE, NEEDS_RUBY, RubyGems, normalize_source
from .gem_spec import GemRequest, closure, gem_filename, merge_requests, parse_gem_request, parse_targets
from .. import cache_dir
from ..._common.credentials import strip_credentials
from ..._common.errors import ManifestError, ResolutionError
from ..._common.fsutil import check_directory_to_write
from ..._common.manifest import Artifact, Manifest, TopLevel, artifact_problem, load_manifest, manifest_path, sha256_file
from ..._common.signing import SIGNING_ARGUMENT_SPEC, TRUST_ARGUMENT_SPEC

GENERATOR = 'airgap.packages.gem_cache'

# The gem_cache module's options; its action plugin validates task arguments against the same spec.
ARGUMENT_SPEC = dict(
    gems=dict(type='list', elements='raw', default=[]),
    gemfile_lock=dict(type='path'),
    sources=dict(type='list', elements='str', no_log=True),
    use_gemrc_sources=dict(type='bool', default=False),
    platforms=dict(type='list', elements='raw', default=['ruby']),
    dest=dict(type='path', required=True),
    prune=dict(type='bool', default=True),
    refresh=dict(type='bool', default=False),
    **dict(SIGNING_ARGUMENT_SPEC, **TRUST_ARGUMENT_SPEC)
)

GemCacheRequest = namedtuple('GemCacheRequest', ['gems', 'asked', 'lockfile', 'lock_origin', 'sources', 'targets', 'dest',
                                                 'prune', 'refresh'])
"""What to build: gems ([GemRequest], one per name), asked (the gems as listed, a name possibly
repeated), lockfile (Lockfile or None), sources (URLs, may carry credentials), targets ([Target]),
dest, prune, refresh."""

Wanted = namedtuple('Wanted', ['filename', 'name', 'version', 'platform', 'urls', 'requires'])
"""A gem file the cache must hold: urls are the sources to fetch it from, in order."""


def request_from_params(params, read_gemrc_sources=None, ruby=None):
    """Validate the module options into a GemCacheRequest (errors name the offending option).

    A gemfile_lock is read by Bundler: ruby is the Ruby to run (else the one in PATH).
    """
    check_directory_to_write('dest', params['dest'])
    asked = [parse_gem_request(item) for item in params.get('gems') or []]
    gems = merge_requests(asked)
    origin = params.get('gemfile_lock') or None
    text = _read_gemfile_lock(origin) if origin else None
    if not gems and text is None:
        raise ResolutionError('nothing to cache: name gems, a gemfile_lock, or both')
    sources = []
    for url in params.get('sources') or []:
        url = normalize_source(url)
        if url not in sources:
            sources.append(url)
    if params.get('use_gemrc_sources'):
        for url in read_gemrc_sources():
            url = normalize_source(url)
            if url not in sources:
                sources.append(url)
    if not sources:
        sources = [DEFAULT_SOURCE]
    targets = parse_targets(params['platforms'] if params.get('platforms') is not None else ['ruby'])
    lockfile = None
    if text is not None:
        ruby = ruby or shutil.which('ruby')
        if not ruby:
            raise ResolutionError('%s: ruby was not found in PATH' % NEEDS_RUBY, gemfile_lock=origin)
        with RubyGems(ruby, []) as rubygems:
            lockfile = rubygems.read_gemfile_lock(text, origin, [t.platform for t in targets])
    return GemCacheRequest(gems, asked, lockfile, origin, sources, targets, params['dest'], bool(params.get('prune', True)),
                           bool(params.get('refresh', False)))


def _read_gemfile_lock(origin):
    try:
        with open(origin, 'rb') as handle:
            return handle.read().decode('utf-8')
    except (IOError, OSError) as exc:
        raise ResolutionError('cannot read gemfile_lock %s: %s' % (origin, exc.strerror or exc), gemfile_lock=origin)
    except UnicodeDecodeError:
        raise ResolutionError('%s is malformed: not UTF-8 text. Regenerate it with `bundle lock`.' % origin,
                              gemfile_lock=origin)


def requires_text(requests):
    """Runtime dependencies as RubyGems prints them: 'name (>= 0)', sorted."""
    return sorted('%s (%s)' % (r.name, ', '.join(r.requirements) or '>= 0') for r in requests)


def requirement_names(requires):
    return [text.split(' ', 1)[0] for text in requires]


class CachePlan:
    """One environment key: what its cache holds, what it must hold, and what to do about it."""

    def __init__(self, request, target):
        self.request = request
        self.target = target
        self.path = os.path.join(request.dest, target.key)
        self.old = None
        self.warnings = []
        self.locked = {}
        locked_tops = []
        if request.lockfile is not None:
            self.locked, warnings = request.lockfile.gems_for(target.platform)
            self.warnings.extend(warnings)
            # A top-level gem locked only for other platforms is not part of this environment.
            locked_tops = [r for r in request.lockfile.dependencies if r.name in self.locked]
        self.toplevel_requests = merge_requests(list(request.gems) + locked_tops)
        self.satisfied = False
        self.wanted = None          # filename -> Wanted
        self.reuse = {}             # filename -> Artifact of the previous manifest
        self.fetched = []
        self.pruned = []
        self.manifest = None
        self.changed = False

    # -- reading what is there ---------------------------------------------------------------

    def load_previous(self):
        if not os.path.exists(manifest_path(self.path)):
            return
        try:
            manifest = load_manifest(self.path)
        except ManifestError as exc:
            self.warnings.append('ignoring the previous manifest of %s: %s' % (self.path, exc.msg))
            return
        if manifest.ecosystem != 'ruby':
            self.warnings.append('%s holds a %s cache, not a gem cache; it will be rebuilt' % (self.path, manifest.ecosystem))
            return
        self.old = manifest

    def _trusted_sources(self):
        return set(strip_credentials(url) for url in self.request.sources)

    def _sound(self, artifact):
        """An artifact of the previous manifest that can be kept: from a current source and intact on disk."""
        return artifact.source in self._trusted_sources() and artifact_problem(self.path, artifact) is None

    def check_previous(self):
        """True when the previous cache answers this request as it is: nothing to resolve or fetch."""
        old = self.old
        if old is None or self.request.refresh:
            return False
        if old.environment != self.target.environment:
            return False
        if sorted(t.requirement for t in old.requirements) != sorted(r.text for r in self.toplevel_requests):
            return False
        held = set((a.name, a.version, a.platform) for a in old.artifacts)
        locked = set((g.name, g.version, g.platform) for g in self.locked.values())
        if not locked <= held:
            return False
        if self.request.lockfile is not None and not self.request.gems and held != locked:
            return False
        if not all(self._sound(a) for a in old.artifacts):
            return False
        self.satisfied = True
        self.manifest = old
        self.wanted = dict((a.filename, Wanted(a.filename, a.name, a.version, a.platform, (), a.requires))
                           for a in old.artifacts)
        self.reuse = dict((a.filename, a) for a in old.artifacts)
        return True

    # -- deciding what must be there -------------------------------------------------------------

    def needs_ruby_resolution(self):
        return bool(self.request.gems)

    def resolution_input(self):
        """(target, requests, preferred versions) for RubyGems: locked gems are pinned exactly.

        Each gem goes in as listed (a repeated name stays repeated), so that RubyGems reports two
        incompatible requirements as the conflict they are.
        """
        pins = [GemRequest(g.name, ('= %s' % g.version,)) for g in self.locked.values()]
        locked_tops = [r for r in self.toplevel_requests if r.name in self.locked]
        requests = list(self.request.asked) + locked_tops + pins
        prefer = {}
        if self.old is not None and not self.request.refresh:
            prefer = dict((a.name, a.version) for a in self.old.artifacts)
        return self.target, requests, prefer

    def set_wanted(self, resolved=None):
        """Settle the file list from the resolution (or from the lock alone) and what can be reused."""
        wanted = {}
        for gem in resolved or []:
            if gem.name in self.locked:
                continue
            wanted[gem.filename] = Wanted(gem.filename, gem.name, gem.version, gem.platform, (gem.source,), gem.requires)
        for gem in self.locked.values():
            filename = gem_filename(gem.name, gem.version, gem.platform)
            wanted[filename] = Wanted(filename, gem.name, gem.version, gem.platform, tuple(self.request.sources),
                                      requires_text(gem.requires))
        self.wanted = wanted
        old_files = dict((a.filename, a) for a in self.old.artifacts) if self.old else {}
        self.reuse = dict((f, old_files[f]) for f in wanted if f in old_files and self._sound(old_files[f]))

    def to_fetch(self):
        return [w for f, w in sorted(self.wanted.items()) if f not in self.reuse]

    @property
    def old_files(self):
        return sorted(a.filename for a in self.old.artifacts) if self.old else []

    @property
    def removed(self):
        return sorted(f for f in self.old_files if f not in self.wanted)

    def toplevels(self, requires_of):
        return [TopLevel(r.text, r.name, closure(r.name, requires_of)) for r in self.toplevel_requests]

    # -- acting ---------------------------------------------------------------------------------

    def commit(self, staged, placer):
        """Link fetched files in, then swap the manifest: the one moment the cache changes meaning."""
        artifacts = [self.reuse[f] for f in sorted(self.reuse)]
        for wanted in self.to_fetch():
            gem, staged_path = staged[wanted.filename]
            if (gem.name, gem.version) != (wanted.name, wanted.version):
                raise ResolutionError('%s from %s is %s %s, expected %s %s' % (
                    wanted.filename, strip_credentials(gem.source), gem.name, gem.version, wanted.name, wanted.version),
                    key=self.target.key, file=wanted.filename)
            artifacts.append(Artifact(wanted.filename, gem.name, gem.version, os.path.getsize(staged_path),
                                      sha256_file(staged_path), gem.platform, gem.requires, strip_credentials(gem.source),
                                      built=False, native=gem.native))
        by_name = dict((a.name, a) for a in artifacts)

        def requires_of(name):
            artifact = by_name.get(name)
            return [n for n in requirement_names(artifact.requires) if n in by_name] if artifact else []

        manifest = Manifest('ruby', self.target.environment, self.toplevels(requires_of), artifacts, GENERATOR)
        fetched = [w.filename for w in self.to_fetch()]
        for filename in fetched:
            placer.place(staged[filename][1], os.path.join(self.path, filename))
        self.changed = cache_dir.commit(self.path, manifest, self.old)
        self.fetched = fetched
        self.changed = self.changed or bool(fetched)
        self.manifest = manifest

    def prune(self, check_mode):
        self.pruned = cache_dir.prune(self.path, self.wanted or [], check_mode) if self.wanted is not None else []

    def result(self, check_mode):
        manifest = self.manifest
        if manifest is not None:
            gems = sorted(a.filename for a in manifest.artifacts)
            native = sorted(set(a.name for a in manifest.artifacts if a.native))
            digest = manifest.digest
        else:
            gems = sorted(self.wanted)
            native = sorted(set(a.name for a in self.reuse.values() if a.native))
            digest = self.old.digest if self.old else None
        if check_mode and not self.satisfied:
            fetch = [w.filename for w in self.to_fetch()]
            changed = bool(fetch or self.removed or self.old is None
                           or sorted(t.requirement for t in self.old.requirements) != sorted(r.text for r in self.toplevel_requests)
                           or self.old.environment != self.target.environment)
        else:
            fetch = self.fetched
            changed = self.changed
        return cache_dir.report(self.target.key, self.path, self.old_files, sorted(self.wanted or {}), self.pruned,
                                changed or bool(self.pruned), manifest=manifest_path(self.path), digest=digest,
                                environment=self.target.environment, gems=gems, native=native, fetched=fetch)

    def diff(self):
        return cache_dir.diff(self.path, self.old_files, sorted(self.wanted or {}))


def build_gem_caches(request, rubygems_factory, check_mode=False, want_diff=False):
    """Build (or check) every environment's cache; returns the module result (changed, caches, warnings, diff)."""
    plans = [CachePlan(request, target) for target in request.targets]
    with ExitStack() as stack:
        stack.enter_context(cache_dir.locked(request.dest, [plan.target.key for plan in plans], check_mode))
        _check_previous(plans)
        pending = [plan for plan in plans if not plan.satisfied]
        rubygems = None
        if pending:
            rubygems = stack.enter_context(rubygems_factory())
            to_resolve = [plan for plan in pending if plan.needs_ruby_resolution()]
            resolved = rubygems.resolve([plan.resolution_input() for plan in to_resolve]) if to_resolve else {}
            for plan in pending:
                plan.set_wanted(resolved.get(plan.target.key))
        if pending and not check_mode:
            _fetch_and_commit(request, pending, rubygems)
        if request.prune:
            for plan in plans:
                plan.prune(check_mode)
    return _module_result(plans, check_mode, want_diff)


def current_gem_caches(request, check_mode=False, want_diff=False):
    """What build_gem_caches returns when every cache already answers the request and nothing needs
    tidying (so it would neither contact a source nor write); else None.

    Reads only, under the locks build_gem_caches takes, so a build in progress is never reported half done.
    """
    if not cache_dir.may_be_current(request.dest, check_mode):
        return None
    plans = [CachePlan(request, target) for target in request.targets]
    with cache_dir.locked(request.dest, [plan.target.key for plan in plans], check_mode=True):
        _check_previous(plans)
        if not all(plan.satisfied for plan in plans):
            return None
        if request.prune:
            for plan in plans:
                plan.prune(check_mode=True)
    result = _module_result(plans, check_mode, want_diff)
    return None if result['changed'] else result


def _check_previous(plans):
    for plan in plans:
        plan.load_previous()
        plan.check_previous()


def _module_result(plans, check_mode, want_diff):
    result = {
        'caches': [plan.result(check_mode) for plan in plans],
        'warnings': [w for plan in plans for w in plan.warnings],
    }
    result['changed'] = any(cache['changed'] for cache in result['caches'])
    if want_diff:
        result['diff'] = [plan.diff() for plan in plans]
    return result


def _fetch_and_commit(request, plans, rubygems):
    """One download per distinct file, shared by every environment that needs it."""
    items = {}
    for plan in plans:
        for wanted in plan.to_fetch():
            items.setdefault(wanted.filename, wanted.urls)
    with cache_dir.workspace(request.dest) as scratch:
        staged = {}
        if items:
            for gem in rubygems.fetch(scratch, sorted(items.items())):
                staged[gem.filename] = (gem, os.path.join(scratch, gem.filename))
        placer = cache_dir.Placer(scratch)
        for plan in plans:
            plan.commit(staged, placer)
