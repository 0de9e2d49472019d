# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RubyGems rules as plain data: requirements, platforms, Gemfile.lock, environment keys.

Pure logic with the standard library only (it runs wherever the collection's modules run);
gem_cache uses it on the controller. The platform rules follow Gem::Platform of RubyGems 3.x.
"""

import re
from collections import namedtuple

from ..._common.errors import AirgapError, ResolutionError
from ..._target.ruby.gem_plan import check_gem_name
from ..._common.platform_info import ruby_abi_version, ruby_environment_key

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


class Lockfile(namedtuple('Lockfile', ['specs', 'platforms', 'dependencies', 'foreign'])):
    """A parsed Gemfile.lock: GEM specs, PLATFORMS, DEPENDENCIES (GemRequest) and gems of GIT/PATH/PLUGIN sections."""

    __slots__ = ()


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

_OS_RULES = (
    (re.compile(r'aix(\d+)?'), 'aix', True),
    (re.compile(r'cygwin'), 'cygwin', False),
    (re.compile(r'darwin(\d+)?'), 'darwin', True),
    (re.compile(r'^macruby$'), 'macruby', False),
    (re.compile(r'freebsd(\d+)?'), 'freebsd', True),
    (re.compile(r'hpux(\d+)?'), 'hpux', True),
    (re.compile(r'^(?:java|jruby)$'), 'java', False),
    (re.compile(r'^java([\d.]*)'), 'java', True),
    (re.compile(r'^dalvik(\d+)?$'), 'dalvik', True),
    (re.compile(r'^dotnet$'), 'dotnet', False),
    (re.compile(r'^dotnet([\d.]*)'), 'dotnet', True),
    (re.compile(r'linux-?((?!gnu)\w+)?'), 'linux', True),
    (re.compile(r'mingw32'), 'mingw32', False),
    (re.compile(r'mingw-?(\w+)?'), 'mingw', True),
    (re.compile(r'(mswin\d+)(?:_(\d+))?'), None, True),
    (re.compile(r'netbsdelf'), 'netbsdelf', False),
    (re.compile(r'openbsd(\d+\.\d+)?'), 'openbsd', True),
    (re.compile(r'bitrig(\d+\.\d+)?'), 'bitrig', True),
    (re.compile(r'solaris(\d+\.\d+)?'), 'solaris', True),
)

Platform = namedtuple('Platform', ['cpu', 'os', 'version'])


def parse_platform(text):
    """cpu, os, version of a platform string, as Gem::Platform.new(text) splits it."""
    parts = str(text).split('-')
    if len(parts) > 2 and not re.search(r'\d', parts[-1]):
        extra = parts.pop()
        parts[-1] = '%s-%s' % (parts[-1], extra)
    cpu = parts.pop(0)
    if re.match(r'i\d86', cpu):
        cpu = 'x86'
    if len(parts) == 2 and re.match(r'^\d+(\.\d+)?$', parts[1]):
        return Platform(cpu, parts[0], parts[1])
    if not parts:
        cpu, os_text = None, cpu
    else:
        os_text = parts[0]
    for rule, os_name, has_version in _OS_RULES:
        match = rule.search(os_text)
        if match and os_name is None:
            # mswin32_60 style: the os is the match itself, the version follows the underscore.
            if cpu is None and match.group(1).endswith('32'):
                cpu = 'x86'
            return Platform(cpu, match.group(1), match.group(2))
        if match:
            return Platform(cpu, os_name, (match.group(1) or None) if has_version else None)
    return Platform(cpu, 'unknown', None)


def platform_matches(target, gem_platform):
    """Whether a gem built for gem_platform installs on target (RubyGems' Gem::Platform#=== rules)."""
    if gem_platform in (None, '', RUBY_PLATFORM):
        return True
    if target == RUBY_PLATFORM:
        return False
    if target == gem_platform:
        return True
    mine, theirs = parse_platform(target), parse_platform(gem_platform)
    cpu_ok = (mine.cpu in (None, 'universal') or theirs.cpu in (None, 'universal') or mine.cpu == theirs.cpu
              or (mine.cpu == 'arm' and (theirs.cpu or '').startswith('arm')))
    version_ok = mine.version is None or theirs.version is None or mine.version == theirs.version
    return cpu_ok and mine.os == theirs.os and version_ok


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

_LOCK_SECTIONS = ('GEM', 'GIT', 'PATH', 'PLUGIN SOURCE', 'PLATFORMS', 'DEPENDENCIES', 'RUBY VERSION',
                  'BUNDLED WITH', 'CHECKSUMS')
_SOURCE_SECTIONS = ('GEM', 'GIT', 'PATH', 'PLUGIN SOURCE')
_SPEC_RE = re.compile(r'^ {4}([^ (]+)(?: \(([^-)]*)(?:-(.*))?\))?$')
_SPEC_DEP_RE = re.compile(r'^ {6}([^ (]+)(?: \(([^)]*)\))?$')
_DEPENDENCY_RE = re.compile(r'^ {2}([^ (!]+)(?: \(([^)]*)\))?(!)?$')
_OPTION_RE = re.compile(r'^ {2}([a-z_]+): ?(.*)$')


def parse_gemfile_lock(text, origin='Gemfile.lock'):
    """Parse a Gemfile.lock, raising ResolutionError with the file and line for anything malformed."""
    specs, platforms, dependencies, foreign = [], [], [], []
    section, in_specs, current = None, False, None

    def malformed(number, why):
        return ResolutionError('%s is malformed at line %d: %s. Regenerate it with `bundle lock`.' % (origin, number, why),
                               gemfile_lock=origin, line=number)

    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(('<<<<<<<', '=======', '>>>>>>>')):
            raise malformed(number, 'it contains a merge conflict marker')
        if not line.strip():
            section, in_specs, current = (section if section in ('GEM', 'GIT', 'PATH', 'PLUGIN SOURCE') else None), False, None
            continue
        if '\t' in line:
            raise malformed(number, 'tab character (Gemfile.lock indents with spaces)')
        if not line.startswith(' '):
            if line not in _LOCK_SECTIONS:
                raise malformed(number, 'unknown section %r' % line)
            section, in_specs, current = line, False, None
            continue
        if section is None:
            raise malformed(number, 'indented line outside any section')
        if section in _SOURCE_SECTIONS:
            if line == '  specs:':
                in_specs = True
                continue
            if not in_specs:
                if not _OPTION_RE.match(line):
                    raise malformed(number, 'expected "  key: value" or "  specs:" in the %s section' % section)
                continue
            spec = _SPEC_RE.match(line)
            if spec:
                name, version, platform = spec.group(1), spec.group(2), spec.group(3) or RUBY_PLATFORM
                if version is None:
                    raise malformed(number, 'spec %s has no version' % name)
                check_gem_name(name, '%s line %d' % (origin, number))
                current = LockedGem(name, parse_version(version, '%s line %d' % (origin, number)), platform, [])
                (specs if section == 'GEM' else foreign).append(current)
                continue
            dep = _SPEC_DEP_RE.match(line)
            if dep and current is not None:
                context = '%s line %d' % (origin, number)
                current.requires.append(GemRequest(check_gem_name(dep.group(1), context), parse_requirement(dep.group(2), context)))
                continue
            raise malformed(number, 'expected a spec ("    name (version)") or one of its dependencies ("      name (requirement)")')
        elif section == 'PLATFORMS':
            if not re.match(r'^ {2}\S+$', line):
                raise malformed(number, 'expected one platform per line')
            platforms.append(line.strip())
        elif section == 'DEPENDENCIES':
            dep = _DEPENDENCY_RE.match(line)
            if not dep:
                raise malformed(number, 'expected "  name" or "  name (requirement)"')
            context = '%s line %d' % (origin, number)
            dependencies.append(GemRequest(check_gem_name(dep.group(1), context), parse_requirement(dep.group(2), context)))
        # RUBY VERSION, BUNDLED WITH and CHECKSUMS carry nothing gem_cache needs.

    specs = [LockedGem(s.name, s.version, s.platform, tuple(s.requires)) for s in specs]
    foreign = [LockedGem(s.name, s.version, s.platform, tuple(s.requires)) for s in foreign]
    if not specs and not foreign:
        raise ResolutionError('%s has no GEM specs: is it a Gemfile.lock written by Bundler?' % origin, gemfile_lock=origin)
    if not dependencies:
        raise ResolutionError('%s has no DEPENDENCIES section: is it a Gemfile.lock written by Bundler?' % origin,
                              gemfile_lock=origin)
    known = set(s.name for s in specs) | set(s.name for s in foreign)
    for dependency in dependencies:
        if dependency.name not in known:
            raise ResolutionError('%s is inconsistent: DEPENDENCIES names %s but no spec of it is locked; run `bundle lock`'
                                  % (origin, dependency.name), gemfile_lock=origin, gem=dependency.name)
    for spec in specs:
        for dependency in spec.requires:
            if dependency.name not in known and dependency.name != 'bundler':
                raise ResolutionError('%s is inconsistent: %s %s depends on %s, which is not locked; run `bundle lock`'
                                      % (origin, spec.name, spec.version, dependency.name), gemfile_lock=origin, gem=dependency.name)
    return Lockfile(specs, platforms, dependencies, foreign)


def locked_gems_for(lockfile, platform, origin='Gemfile.lock'):
    """The locked variant of every gem for one target platform: the precompiled one where the
    lock has it, else the ruby one.

    Returns (gems by name, warnings). A gem locked only for other platforms (a JRuby-only gem,
    say) is left out with a warning, as Bundler leaves it out on such a host; it is an error only
    when a gem that stays needs it.
    """
    if lockfile.foreign:
        names = ', '.join(sorted(set('%s %s' % (s.name, s.version) for s in lockfile.foreign)))
        raise ResolutionError('%s locks gems from GIT, PATH or plugin sources (%s), which no gem source serves; '
                              'build them into .gem files and publish them on a gem source' % (origin, names),
                              gemfile_lock=origin)
    warnings = []
    if (platform not in lockfile.platforms and RUBY_PLATFORM not in lockfile.platforms
            and not any(platform_matches(platform, p) for p in lockfile.platforms)):
        warnings.append('%s does not list platform %s in PLATFORMS (%s); Bundler on such a host would re-resolve. '
                        'Run `bundle lock --add-platform %s`.' % (origin, platform, ', '.join(lockfile.platforms), platform))
    by_name = {}
    for spec in lockfile.specs:
        by_name.setdefault(spec.name, []).append(spec)
    chosen, unfit = {}, {}
    for name in sorted(by_name):
        variants = by_name[name]
        native = [v for v in variants if v.platform != RUBY_PLATFORM and platform_matches(platform, v.platform)]
        generic = [v for v in variants if v.platform == RUBY_PLATFORM]
        if native:
            # The most specific platform wins, as Bundler prefers an exact match.
            native.sort(key=lambda v: (v.platform != platform, v.platform))
            chosen[name] = native[0]
        elif generic:
            chosen[name] = generic[0]
        else:
            unfit[name] = sorted(v.platform for v in variants)
    for name in sorted(unfit):
        needed_by = sorted(g.name for g in chosen.values() if name in [r.name for r in g.requires])
        if needed_by:
            raise ResolutionError('%s locks %s only for %s, none of which installs on platform %s, but %s needs it; '
                                  'run `bundle lock --add-platform %s`'
                                  % (origin, name, ', '.join(unfit[name]), platform, ', '.join(needed_by), platform),
                                  gemfile_lock=origin, gem=name)
        warnings.append('%s locks %s only for %s: not cached for platform %s' % (origin, name, ', '.join(unfit[name]), platform))
    return chosen, warnings


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
