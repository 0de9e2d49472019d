# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_cache's rules as plain data: requests and requirements, targets and environment keys, and what
it requires of a Gemfile.lock.

Pure logic with the standard library only; gem_cache uses it on the controller. Ruby questions (what
a Gemfile.lock locks, which gem platform installs where, what a request resolves to) are answered by
RubyGems and Bundler themselves, through gem_resolver.
"""

import re
from collections import namedtuple

from ..._common.errors import AirgapError, ResolutionError
from ..._common.platform_info import ruby_abi_version, ruby_environment_key
from ..._target.ruby.gem_plan import check_gem_name

RUBY_PLATFORM = 'ruby'

_VERSION_RE = re.compile(r'^[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$')
_OPERATORS = ('=', '!=', '>=', '<=', '~>', '>', '<')
_CONSTRAINT_RE = re.compile(r'^\s*(=|!=|>=|<=|~>|>|<)?\s*(\S+)\s*$')
_KEY_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*$')


class GemRequest(namedtuple('GemRequest', ['name', 'requirements'])):
    """A gem as asked for: its name and RubyGems constraints such as ('~> 13.0',); none means any version."""

    __slots__ = ()

    @property
    def text(self):
        """The request as RubyGems prints it: 'rake' or 'rake (~> 13.0, >= 13.0.1)'."""
        if not self.requirements:
            return self.name
        return '%s (%s)' % (self.name, ', '.join(self.requirements))


class Target(namedtuple('Target', ['key', 'platform', 'ruby_version', 'rubygems_version'])):
    """One environment to build a cache for: a Ruby platform and, when known, the Ruby it runs."""

    __slots__ = ()

    @property
    def abi_version(self):
        if not self.ruby_version:
            return None
        return ruby_abi_version(self.ruby_version)

    @property
    def environment(self):
        """The manifest's environment dict: the key and what defines it (only the known parts)."""
        env = {'key': self.key, 'platform': self.platform}
        if self.ruby_version:
            env['ruby_version'] = self.ruby_version
            env['abi_version'] = self.abi_version
        if self.rubygems_version:
            env['rubygems_version'] = self.rubygems_version
        return env


LockedGem = namedtuple('LockedGem', ['name', 'version', 'platform', 'requires'])
"""One spec line of a Gemfile.lock: requires is a tuple of GemRequest."""

PlatformFit = namedtuple('PlatformFit', ['listed', 'chosen', 'unfit'])
"""How a Gemfile.lock fits one platform, as RubyGems judges it: listed (PLATFORMS has a platform that
installs there), chosen (the LockedGem variant of each gem that installs there), unfit ({name: the
platforms it is locked for}, none of which installs there)."""


class Lockfile(namedtuple('Lockfile', ['origin', 'specs', 'platforms', 'dependencies', 'foreign', 'fits'])):
    """A Gemfile.lock as Bundler reads it: GEM specs, PLATFORMS, DEPENDENCIES (GemRequest), gems of
    GIT/PATH/PLUGIN sections, and its PlatformFit for each target platform asked about."""

    __slots__ = ()

    def gems_for(self, platform):
        """The locked variant of every gem for one target platform, and warnings.

        A gem locked only for other platforms (a JRuby-only gem, say) is left out with a warning, as
        Bundler leaves it out on such a host; it is an error only when a gem that stays needs it.
        """
        origin = self.origin
        if self.foreign:
            names = ', '.join(sorted(set('%s %s' % (s.name, s.version) for s in self.foreign)))
            raise ResolutionError('%s locks gems from GIT, PATH or plugin sources (%s), which no gem source serves; '
                                  'build them into .gem files and publish them on a gem source' % (origin, names),
                                  gemfile_lock=origin)
        fit = self.fits[platform]
        warnings = []
        if not fit.listed:
            warnings.append('%s does not list platform %s in PLATFORMS (%s); Bundler on such a host would re-resolve. '
                            'Run `bundle lock --add-platform %s`.' % (origin, platform, ', '.join(self.platforms), platform))
        chosen = dict((gem.name, gem) for gem in fit.chosen)
        for name in sorted(fit.unfit):
            needed_by = sorted(g.name for g in chosen.values() if name in [r.name for r in g.requires])
            if needed_by:
                raise ResolutionError('%s locks %s only for %s, none of which installs on platform %s, but %s needs it; '
                                      'run `bundle lock --add-platform %s`'
                                      % (origin, name, ', '.join(fit.unfit[name]), platform, ', '.join(needed_by), platform),
                                      gemfile_lock=origin, gem=name)
            warnings.append('%s locks %s only for %s: not cached for platform %s' % (origin, name, ', '.join(fit.unfit[name]), platform))
        return chosen, warnings


def environment_key(platform, ruby_version=None):
    """The environment key of a Ruby target: platform_facts' key when the Ruby version is known.

    Gems of the platform ``ruby`` fit every Ruby, so a bare platform string (no Ruby version)
    keys the cache by the platform alone, e.g. ``ruby`` or ``x86_64-linux``.
    """
    if not ruby_version:
        return platform
    return ruby_environment_key(platform, ruby_version)


def parse_version(text, context):
    text = str(text).strip()
    if not _VERSION_RE.match(text):
        raise ResolutionError('%s: %r is not a RubyGems version' % (context, text))
    return text


def parse_requirement(text, context):
    """RubyGems constraints from text such as '~> 13.0', '>= 1, < 2' or '1.0.0' (meaning '= 1.0.0')."""
    if text is None:
        return ()
    if isinstance(text, (list, tuple)):
        pieces = [str(piece) for piece in text]
    else:
        pieces = str(text).split(',')
    constraints = []
    for piece in pieces:
        if not piece.strip():
            continue
        match = _CONSTRAINT_RE.match(piece)
        if not match:
            raise ResolutionError('%s: %r is not a RubyGems requirement (expected e.g. "~> 1.2" or ">= 1, < 2")' % (context, piece.strip()))
        operator, version = match.group(1) or '=', match.group(2)
        if operator not in _OPERATORS:
            raise ResolutionError('%s: unknown operator %r' % (context, operator))
        constraint = '%s %s' % (operator, parse_version(version, context))
        if constraint not in constraints:
            constraints.append(constraint)
    if constraints == ['>= 0']:
        return ()
    return tuple(constraints)


def parse_gem_request(item):
    """A GemRequest from 'rake', 'rake:~> 13.0' or {'name': 'rake', 'version': '~> 13.0'}."""
    if isinstance(item, dict):
        unknown = sorted(set(item) - set(['name', 'version']))
        if unknown or 'name' not in item:
            raise ResolutionError('gems: %r must have a name and optionally a version (unknown keys: %s)'
                                  % (item, ', '.join(unknown) or 'none'))
        name, requirement = item['name'], item.get('version')
    elif isinstance(item, str):
        name, _sep, requirement = item.partition(':')
        name = name.strip()
    else:
        raise ResolutionError('gems: %r is neither a string nor a {name, version} dict' % (item,))
    check_gem_name(name)
    return GemRequest(name, parse_requirement(requirement, 'gems: %s' % name))


def merge_requests(requests):
    """One request per gem name in first-seen order; repeated names keep every constraint."""
    merged, order = {}, []
    for request in requests:
        if request.name not in merged:
            merged[request.name] = list(request.requirements)
            order.append(request.name)
        else:
            merged[request.name].extend(c for c in request.requirements if c not in merged[request.name])
    return [GemRequest(name, tuple(merged[name])) for name in order]


# --- platforms ------------------------------------------------------------------------------

def parse_target(item):
    """A Target from a platform string ('ruby', 'x86_64-linux') or platform_facts' ruby dict."""
    if isinstance(item, str):
        platform, version, rubygems_version, key = item.strip(), None, None, None
    elif isinstance(item, dict):
        platform = item.get('platform')
        version = item.get('version') or item.get('ruby_version')
        rubygems_version = item.get('rubygems_version')
        key = item.get('key')
        if not platform:
            raise ResolutionError('platforms: %r has no "platform" (expected a string such as x86_64-linux or '
                                  'the ruby facts of platform_facts)' % (item,))
    else:
        raise ResolutionError('platforms: %r is neither a platform string nor a dict of ruby facts' % (item,))
    platform = str(platform).strip()
    if not platform or not _KEY_RE.match(platform):
        raise ResolutionError('platforms: %r is not a Ruby platform such as ruby, x86_64-linux or arm64-darwin' % (platform,))
    if version is not None:
        version = parse_version(version, 'platforms: Ruby version of %s' % platform)
    if rubygems_version is not None:
        rubygems_version = parse_version(rubygems_version, 'platforms: RubyGems version of %s' % platform)
    try:
        key = str(key) if key else environment_key(platform, version)
    except AirgapError as exc:
        raise ResolutionError('platforms: %s' % exc.msg)
    if not _KEY_RE.match(key) or '..' in key:
        raise ResolutionError('platforms: environment key %r is not usable as a directory name' % (key,))
    return Target(key, platform, version, rubygems_version)


def parse_targets(items):
    """Targets by key, in first-seen order; hosts that share a key must describe the same environment."""
    targets = []
    for item in items:
        target = parse_target(item)
        same = [t for t in targets if t.key == target.key]
        if not same:
            targets.append(target)
        elif same[0] != target:
            raise ResolutionError('platforms: two different environments share the key %s (%r and %r)'
                                  % (target.key, same[0].environment, target.environment))
    if not targets:
        raise ResolutionError('platforms is empty: name at least one Ruby platform (e.g. ruby or x86_64-linux)')
    return targets


# --- Gemfile.lock ---------------------------------------------------------------------------
# Bundler reads the file and RubyGems decides which variant installs where (gem_resolver's Ruby
# helper); these are the rules gem_cache adds on top, and the words it says them in.

def check_lockfile(lockfile):
    """The Lockfile itself, after checking that it locks something and that every gem it names is locked."""
    origin = lockfile.origin
    if not lockfile.specs and not lockfile.foreign:
        raise ResolutionError('%s has no GEM specs: is it a Gemfile.lock written by Bundler?' % origin, gemfile_lock=origin)
    if not lockfile.dependencies:
        raise ResolutionError('%s has no DEPENDENCIES section: is it a Gemfile.lock written by Bundler?' % origin,
                              gemfile_lock=origin)
    known = set(s.name for s in lockfile.specs) | set(s.name for s in lockfile.foreign)
    for dependency in lockfile.dependencies:
        if dependency.name not in known:
            raise ResolutionError('%s is inconsistent: DEPENDENCIES names %s but no spec of it is locked; run `bundle lock`'
                                  % (origin, dependency.name), gemfile_lock=origin, gem=dependency.name)
    for spec in lockfile.specs:
        for dependency in spec.requires:
            if dependency.name not in known and dependency.name != 'bundler':
                raise ResolutionError('%s is inconsistent: %s %s depends on %s, which is not locked; run `bundle lock`'
                                      % (origin, spec.name, spec.version, dependency.name), gemfile_lock=origin, gem=dependency.name)
    return lockfile


def closure(name, requires_of):
    """Names reachable from name through requires_of(name) -> iterable of names (cycles allowed)."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(dep for dep in requires_of(current) if dep not in seen)
    return seen


def gem_filename(name, version, platform):
    """The file name RubyGems gives a gem: name-version.gem or name-version-platform.gem."""
    if platform in (None, '', RUBY_PLATFORM):
        return '%s-%s.gem' % (name, version)
    return '%s-%s-%s.gem' % (name, version, platform)
