# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve a Python dependency closure for a described target platform, not for the controller.

Runs on the controller (needs packaging and resolvelib, both dependencies of ansible-core).
pip evaluates environment markers against the interpreter running it, so a foreign target
gets the wrong closure from `pip download --platform`; here markers, Requires-Python and wheel
tags are all evaluated against the target's description (platform_facts), and every choice
is explained when it fails.

Version choice per project: versions that satisfy every requirement and constraint; among them
the version already cached (unless refreshing), then the newest version that has a wheel for
the target, then the newest that has only an sdist (built here), then versions with neither,
which make the build fail with a list of what is available (pip's --prefer-binary order).
"""

import email.parser
import os
import traceback
import zipfile

from .build_inputs import static_metadata
from ..._common.credentials import url_label
from ..._common.errors import ResolutionError
from ..._common.scripts import wheeltags
from ..._common.scripts.interpreter_probe import normalise_name

PACKAGING_IMPORT_ERROR = None
RESOLVELIB_IMPORT_ERROR = None
try:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
    from packaging.version import InvalidVersion, Version
except ImportError:
    PACKAGING_IMPORT_ERROR = traceback.format_exc()
    Requirement = SpecifierSet = Version = None
    InvalidRequirement = InvalidSpecifier = InvalidVersion = InvalidSdistFilename = InvalidWheelFilename = ValueError
try:
    import resolvelib
    from resolvelib import AbstractProvider, BaseReporter
except ImportError:
    RESOLVELIB_IMPORT_ERROR = traceback.format_exc()
    resolvelib = None
    AbstractProvider = BaseReporter = object

PYTHON_ID = '<python>'
WHEEL, SDIST, MISSING = 'wheel', 'sdist', 'missing'
_KIND_ORDER = {WHEEL: 0, SDIST: 1, MISSING: 2}


def parse_requirement(text, origin='requirements'):
    """packaging Requirement of a PEP 508 string, or a ResolutionError naming it."""
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise ResolutionError('invalid requirement %r in %s: %s' % (text, origin, exc), requirement=text)
    if req.url:
        raise ResolutionError('requirement %r in %s is a direct URL reference; publish the project on an index or in '
                              'find-links instead' % (text, origin), requirement=text)
    return req


def requirement_without_marker(req):
    extras = '[%s]' % ','.join(sorted(req.extras)) if req.extras else ''
    return '%s%s%s' % (req.name, extras, req.specifier)


class Target:
    """A platform to resolve for: ordered tags and PEP 508 marker variables from its description."""

    def __init__(self, description):
        self.description = description
        self.key = description['key']
        self.tags = list(description['tags'])
        self.rank = dict((tag, index) for index, tag in enumerate(self.tags))
        self.markers = dict(description['marker_environment'])
        self.python_version = Version(self.markers.get('python_full_version') or description['version'])

    def wheel_rank(self, filename):
        try:
            tags = wheeltags.wheel_file_tags(filename)
        except ValueError:
            return None
        ranks = [self.rank[tag] for tag in tags if tag in self.rank]
        return min(ranks) if ranks else None

    def marker_applies(self, marker, extras=('',)):
        if marker is None:
            return True
        for extra in extras:
            env = dict(self.markers)
            env['extra'] = extra
            if marker.evaluate(env):
                return True
        return False

    def python_fits(self, requires_python):
        if not requires_python:
            return True
        try:
            return SpecifierSet(requires_python).contains(self.python_version, prereleases=True)
        except InvalidSpecifier:
            return True  # pip ignores an invalid Requires-Python too


class Req:
    """A requirement as the resolver sees it, with the project that asked for it."""

    def __init__(self, req, parent=None):
        self.req = req
        self.name = normalise_name(req.name)
        self.extras = frozenset(normalise_name(extra) for extra in req.extras)
        self.specifier = req.specifier
        self.parent = parent
        self.identifier = identifier_of(self.name, self.extras)

    def __repr__(self):
        return 'Req(%s)' % self.req


class PythonReq:
    """Requires-Python of a candidate, as a requirement on the target's Python."""

    identifier = PYTHON_ID
    extras = frozenset()

    def __init__(self, specifier, parent):
        self.specifier = specifier
        self.parent = parent
        self.name = PYTHON_ID

    def __repr__(self):
        return 'Requires-Python %s' % self.specifier


def identifier_of(name, extras):
    return '%s[%s]' % (name, ','.join(sorted(extras))) if extras else name


class Candidate:
    """One version of a project for the target, with the file that would be cached."""

    def __init__(self, name, version, extras, kind, dist=None, files=(), local_path=None):
        self.name = name
        self.version = version
        self.extras = frozenset(extras)
        self.kind = kind
        self.dist = dist  # DistFile: the wheel to fetch, or the sdist to build
        self.files = list(files)  # every file this version offers (for error messages)
        self.local_path = local_path  # a verified file already in the cache
        self.identifier = identifier_of(name, self.extras)
        self.requires = None  # applicable requirement strings, once metadata is read
        self.wheel_path = None  # the wheel file to cache, once fetched or built
        self.built = False
        self.sdist_path = None  # the sdist fetched and built in this run, when built here (not reused)
        self.problem = None  # why no wheel fits the target, when kind is MISSING

    @property
    def needs_builder(self):
        """Built from its sdist in this run to a wheel that is native, or that does not fit the target at all."""
        if self.sdist_path is None:
            return False
        return self.kind == MISSING or not wheeltags.is_pure_wheel(os.path.basename(self.wheel_path))

    @property
    def filename(self):
        if self.wheel_path:
            return os.path.basename(self.wheel_path)
        return self.dist.filename if self.dist else None

    def __repr__(self):
        return 'Candidate(%s %s %s)' % (self.identifier, self.version, self.kind)


class PythonCandidate:
    identifier = PYTHON_ID
    name = PYTHON_ID
    extras = frozenset()

    def __init__(self, version):
        self.version = version


def read_wheel_metadata(path):
    """The METADATA text of a wheel file."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.count('/') == 1 and n.endswith('.dist-info/METADATA')]
            if not names:
                raise ResolutionError('%s has no .dist-info/METADATA: not a valid wheel' % os.path.basename(path))
            return archive.read(names[0]).decode('utf-8', 'replace')
    except (zipfile.BadZipfile, IOError, OSError) as exc:
        raise ResolutionError('%s is not a readable wheel (%s)' % (os.path.basename(path), exc))


def parse_metadata(text):
    """(requires_dist list, requires_python) of core metadata."""
    message = email.parser.HeaderParser().parsestr(text)
    return list(message.get_all('Requires-Dist') or []), message.get('Requires-Python')


class Provider(AbstractProvider):
    """resolvelib provider for one target; index access and sdist builds go through shared helpers."""

    def __init__(self, target, client, fetch_dir, builder, constraints=None, preferred=None, local_files=None,
                 has_builder=False):
        self.target = target
        self.has_builder = has_builder  # a builder of the target's key builds what does not build here
        self.client = client
        self.fetch_dir = fetch_dir
        self.builder = builder
        self.constraints = constraints or {}  # name -> [Requirement]
        self.preferred = preferred or {}  # name -> version string already cached
        self.local_files = local_files or {}  # filename -> verified path in the cache
        self._candidates = {}
        self._metadata = {}
        self._state = {}

    # -- resolvelib interface

    def identify(self, requirement_or_candidate):
        return requirement_or_candidate.identifier

    def get_preference(self, identifier, *args, **kwargs):
        resolutions, candidates, information = (list(args) + [None, None, None])[:3]
        information = information if information is not None else kwargs.get('information', {})
        pinned = False
        for info in information.get(identifier, ()) if hasattr(information, 'get') else ():
            specifier = getattr(info.requirement, 'specifier', None)
            if specifier is not None and any(spec.operator in ('==', '===') for spec in specifier):
                pinned = True
        return (identifier != PYTHON_ID, not pinned, identifier)

    def find_matches(self, identifier, requirements, incompatibilities):
        reqs = list(requirements[identifier])
        if identifier == PYTHON_ID:
            python = PythonCandidate(self.target.python_version)
            return [python] if all(r.specifier.contains(python.version, prereleases=True) for r in reqs) else []
        excluded = set(candidate.version for candidate in incompatibilities[identifier])
        name = reqs[0].name if reqs else identifier.split('[')[0]
        extras = reqs[0].extras if reqs else frozenset()
        return [candidate for candidate in self.candidates(name, extras, reqs) if candidate.version not in excluded]

    def is_satisfied_by(self, requirement, candidate):
        if requirement.identifier == PYTHON_ID:
            return requirement.specifier.contains(candidate.version, prereleases=True)
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate):
        if candidate.identifier == PYTHON_ID:
            return []
        requires_dist, requires_python = self.metadata(candidate)
        deps = []
        if requires_python:
            try:
                deps.append(PythonReq(SpecifierSet(requires_python), candidate.name))
            except InvalidSpecifier:
                pass
        if candidate.extras:
            deps.append(Req(Requirement('%s==%s' % (candidate.name, candidate.version)), candidate.name))
        applicable = []
        extras = tuple(candidate.extras) if candidate.extras else ('',)
        for text in requires_dist:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue  # pip skips invalid Requires-Dist of a published project as well
            if not self.target.marker_applies(req.marker, extras):
                continue
            applicable.append(requirement_without_marker(req))
            deps.append(Req(req, candidate.name))
        candidate.requires = sorted(set(applicable))
        return deps

    # -- candidates

    def project_versions(self, name):
        """{Version: [DistFile]} of a project, from every index."""
        versions = {}
        for dist in self.client.project_files(name):
            try:
                if dist.is_wheel:
                    project, version, _build, _tags = parse_wheel_filename(dist.filename)
                else:
                    project, version = parse_sdist_filename(dist.filename)
            except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
                continue
            if normalise_name(str(project)) != name:
                continue
            versions.setdefault(version, []).append(dist)
        return versions

    def candidates(self, name, extras, reqs):
        versions = self.project_versions(name)
        specifiers = [r.specifier for r in reqs] + [c.specifier for c in self.constraints.get(name, ())]
        allowed = []
        for version, files in versions.items():
            if not all(spec.contains(version, prereleases=True) for spec in specifiers):
                continue
            pinned = any(s.operator in ('==', '===') and not s.version.endswith('*') for spec in specifiers for s in spec)
            live = [f for f in files if pinned or not f.yanked]
            live = [f for f in live if self.target.python_fits(f.requires_python)]
            if live:
                allowed.append((version, live, files))
        explicit_pre = any(spec.prereleases for spec in specifiers)
        if not explicit_pre and any(not v.is_prerelease for v, _l, _f in allowed):
            allowed = [item for item in allowed if not item[0].is_prerelease]
        result = [self._candidate(name, extras, version, live, files) for version, live, files in allowed]
        preferred = self.preferred.get(name)
        result.sort(key=lambda c: (str(c.version) != preferred, _KIND_ORDER[c.kind], _Reverse(c.version)))
        return result

    def _candidate(self, name, extras, version, live, files):
        key = (name, frozenset(extras), version)
        if key in self._candidates:
            return self._candidates[key]
        wheels = []
        for dist in live:
            if dist.is_wheel:
                rank = self.target.wheel_rank(dist.filename)
                if rank is not None:
                    wheels.append((rank, dist.filename, dist))
        sdists = sorted((not d.filename.endswith('.tar.gz'), d.filename, d) for d in live if not d.is_wheel)
        if wheels:
            dist = sorted(wheels, key=lambda item: item[:2])[0][2]
            candidate = Candidate(name, version, extras, WHEEL, dist, files, local_path=self.local_files.get(dist.filename))
        elif sdists:
            candidate = Candidate(name, version, extras, SDIST, sdists[0][2], files)
        else:
            candidate = Candidate(name, version, extras, MISSING, None, files)
            candidate.problem = 'no wheel for this platform and no sdist'
        self._candidates[key] = candidate
        return candidate

    # -- metadata, fetching, building

    def metadata(self, candidate):
        """(requires_dist, requires_python) of a candidate; fetches or builds what is needed once per version."""
        key = (candidate.name, candidate.version)
        if key not in self._metadata:
            self._metadata[key] = parse_metadata(self._metadata_text(candidate))
            self._state[key] = (candidate.wheel_path, candidate.kind, candidate.built, candidate.sdist_path, candidate.problem)
        else:
            candidate.wheel_path, candidate.kind, candidate.built, candidate.sdist_path, candidate.problem = self._state[key]
        return self._metadata[key]

    def _metadata_text(self, candidate):
        if candidate.kind == WHEEL:
            if candidate.local_path:
                candidate.wheel_path = candidate.local_path
                return read_wheel_metadata(candidate.local_path)
            if candidate.dist.metadata_url:
                try:
                    return self.client.read(candidate.dist.metadata_url, candidate.dist.index).decode('utf-8', 'replace')
                except ResolutionError:
                    pass  # fall back to the wheel itself
            candidate.wheel_path = self.client.fetch(candidate.dist, self.fetch_dir)[0]
            return read_wheel_metadata(candidate.wheel_path)
        if candidate.kind == SDIST:
            return self._build(candidate)
        # MISSING: dependencies still matter, to report every package that lacks a wheel.
        wheels = [d for d in candidate.files if d.is_wheel]
        with_metadata = [d for d in wheels if d.metadata_url]
        if with_metadata:
            return self.client.read(with_metadata[0].metadata_url, with_metadata[0].index).decode('utf-8', 'replace')
        if wheels:
            return read_wheel_metadata(self.client.fetch(sorted(wheels, key=lambda d: d.filename)[0], self.fetch_dir)[0])
        return ''

    def _build(self, candidate):
        cached = self._cached_wheel(candidate)
        if cached:
            # Built by an earlier run from this version's sdist: reuse it rather than build again.
            candidate.built = True
            candidate.wheel_path = cached
            return read_wheel_metadata(cached)
        sdist_path = self.client.fetch(candidate.dist, self.fetch_dir)[0]
        try:
            wheel_path = self.builder.build(candidate.name, str(candidate.version), sdist_path, self.target)
        except ResolutionError:
            text = static_metadata(sdist_path) if self.has_builder else None
            if text is None:
                raise
            # It does not build here (no compiler, a library only the targets have): its builder will.
            candidate.built, candidate.sdist_path, candidate.kind = True, sdist_path, MISSING
            candidate.problem = 'publishes only an sdist, which does not build here; a host of this key must build it'
            return text
        text = read_wheel_metadata(wheel_path)
        rank = self.target.wheel_rank(os.path.basename(wheel_path))
        candidate.built = True
        candidate.sdist_path = sdist_path
        if rank is None:
            tags = sorted(wheeltags.wheel_file_tags(os.path.basename(wheel_path)))
            candidate.kind = MISSING
            candidate.problem = ('publishes only an sdist, which builds to a platform-specific wheel here (%s); a host '
                                 'of this key must build it' % ', '.join(tags))
        else:
            candidate.wheel_path = wheel_path
        return text

    def _cached_wheel(self, candidate):
        for filename, path in sorted(self.local_files.items()):
            try:
                project, version, _build, _tags = parse_wheel_filename(filename)
            except (InvalidWheelFilename, InvalidVersion):
                continue
            if normalise_name(str(project)) == candidate.name and version == candidate.version \
                    and self.target.wheel_rank(filename) is not None:
                return path
        return None


class _Reverse:
    """Sort key wrapper: newest version first."""

    def __init__(self, value):
        self.value = value

    def __lt__(self, other):
        return self.value > other.value

    def __eq__(self, other):
        return self.value == other.value


class Resolution:
    """What one target needs: the chosen candidate per project and each top-level requirement's closure."""

    def __init__(self, target, pins, toplevel, skipped):
        self.target = target
        self.pins = pins  # name -> Candidate (base, without extras)
        self.toplevel = toplevel  # [(requirement text, name, closure names)]
        self.skipped = skipped  # requirement texts whose markers exclude the target

    @property
    def missing(self):
        return [c for c in self.pins.values() if c.kind == MISSING]


def resolve(target, requirements, client, fetch_dir, builder, constraints=None, preferred=None, local_files=None,
            max_rounds=2000, has_builder=False):
    """Resolution of requirements (list of (text, origin)) for target; ResolutionError explains a failure."""
    if resolvelib is None:
        raise ResolutionError('wheel_cache needs the resolvelib library on the controller (it comes with ansible-core)')
    roots = []
    toplevel_texts = []
    skipped = []
    for text, origin in requirements:
        req = parse_requirement(text, origin)
        if not target.marker_applies(req.marker):
            skipped.append(text)
            continue
        roots.append(Req(req))
        toplevel_texts.append(text)
    provider = Provider(target, client, fetch_dir, builder, constraints, preferred, local_files, has_builder)
    resolver = resolvelib.Resolver(provider, BaseReporter())
    try:
        result = resolver.resolve(roots, max_rounds=max_rounds)
    except resolvelib.ResolutionImpossible as exc:
        raise ResolutionError(explain_impossible(exc.causes, provider, target), platform=target.key)
    except resolvelib.ResolutionTooDeep:
        raise ResolutionError('the requirements for %s need too much backtracking to resolve; pin more versions'
                              % target.key, platform=target.key)
    pins = {}
    requires = {}
    for identifier, candidate in result.mapping.items():
        if identifier == PYTHON_ID:
            continue
        if not candidate.extras:
            pins[candidate.name] = candidate  # an extras candidate always depends on its base, pinned the same
        requires.setdefault(candidate.name, set()).update(candidate.requires or ())
    for name, candidate in pins.items():
        candidate.requires = sorted(requires[name])
    toplevel = []
    for text, root in zip(toplevel_texts, roots):
        toplevel.append((text, root.name, _closure(result.graph, root.identifier)))
    return Resolution(target, pins, toplevel, skipped)


def _closure(graph, identifier):
    names = set()
    seen = set()
    todo = [identifier]
    while todo:
        current = todo.pop()
        if current in seen or current == PYTHON_ID:
            continue
        seen.add(current)
        names.add(current.split('[')[0])
        todo.extend(graph.iter_children(current))
    return names


def explain_impossible(causes, provider, target):
    """One message naming each unsatisfiable requirement, who asked for it, and what exists."""
    lines = []
    seen = set()
    for cause in causes:
        req, parent = cause.requirement, cause.parent
        asker = 'requested' if parent is None else 'required by %s %s' % (parent.name, parent.version)
        if req.identifier == PYTHON_ID:
            line = '%s needs Python %s, the platform has %s' % (parent.name if parent else '?', req.specifier,
                                                                target.python_version)
        else:
            versions = provider.project_versions(req.name)
            if not versions:
                where = ', '.join(url_label(url) for url in provider.client.index_urls + provider.client.find_links)
                line = 'no project named %s on %s (%s)' % (req.name, where or 'any index', asker)
            else:
                usable = sorted(v for v, files in versions.items()
                                if any(target.python_fits(f.requires_python) for f in files))
                shown = ', '.join(str(v) for v in usable[-15:]) or 'none'
                line = '%s%s (%s): no matching version; available for Python %s: %s' % (
                    req.name, req.specifier or '', asker, target.python_version, shown)
                constraint = provider.constraints.get(req.name)
                if constraint:
                    line += '; constrained by %s' % ', '.join(str(c) for c in constraint)
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return 'cannot resolve the requirements for %s: %s' % (target.key, '; '.join(lines))
