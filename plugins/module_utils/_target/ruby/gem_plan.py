# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans for a GEM_HOME: which gems of a ruby cache to install, upgrade, repair or remove.

Pure logic: no Ruby runs here. Inputs are the manifest's artifacts and the installed
specifications found by the probe (gem_target.probe); outputs are plan steps that check mode,
diff and the real run share. Runs on targets: standard library only.
"""

import os
import re
from collections import namedtuple

from ..plans import (
    DOWNGRADE, INSTALL, REINSTALL, REMOVE, UPGRADE, Change)
from ..._common.errors import ManifestError, ResolutionError, VerificationError

RUBY_PLATFORM = 'ruby'

PRUNE = 'prune'
"""The pinned version is installed, but other versions of the same gem sit beside it: remove those."""

NONE = 'none'
"""Reported per gem when nothing is done to it."""

# A gem name as RubyGems accepts it in a specification; what gem_cache builds from and gem_offline installs.
_GEM_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')


def check_gem_name(name, context='gems'):
    if not isinstance(name, str) or not _GEM_NAME.match(name):
        raise ResolutionError('%s: %r is not a valid gem name' % (context, name))
    return name


InstalledGem = namedtuple('InstalledGem', ['name', 'version', 'platform', 'full_name', 'extensions', 'missing_extensions', 'requires',
                                           'missing_files'], defaults=((),))
"""One specification found in the install dir's specifications/ directory; missing_files names what of the gem's
files is gone (its gems/<full name> directory)."""

GemStep = namedtuple('GemStep', ['change', 'install', 'remove'])
"""A Change plus what carries it out: artifacts to install (deps first) and installed gems to remove."""

Toolchain = namedtuple('Toolchain', ['compiler', 'compiler_path', 'make', 'make_path', 'headers'])
"""What building a native extension needs: compiler and make (command and resolved path, or None),
and the Ruby header files with whether each exists ({path: bool})."""


def _gem_version_segments(version):
    segments = []
    for segment in re.findall(r'\d+|[A-Za-z]+', str(version)):
        # Numbers sort after letters: a segment with letters makes a prerelease, so 1.0.a < 1.0 and 1.0.rc1 < 1.0.
        segments.append((1, int(segment), '') if segment.isdigit() else (0, 0, segment.lower()))
    return segments


def compare_gem_versions(left, right):
    """-1, 0 or 1 in RubyGems' order: segments split on dots and letter/digit boundaries, missing ones count as 0."""
    left, right = _gem_version_segments(left), _gem_version_segments(right)
    width = max(len(left), len(right))
    zero = (1, 0, '')
    left += [zero] * (width - len(left))
    right += [zero] * (width - len(right))
    return (left > right) - (left < right)


def platform_of(value):
    return value or RUBY_PLATFORM


def identity(version, platform):
    """The version as RubyGems spells it in a full name: 1.2.0 or 1.2.0-x86_64-linux."""
    platform = platform_of(platform)
    return version if platform == RUBY_PLATFORM else '%s-%s' % (version, platform)


def requirement_name(entry):
    """The gem name of one manifest `requires` entry: 'rack (>= 2.0)', 'rack >= 2', 'rack' or {'name': 'rack', ...}."""
    if isinstance(entry, dict):
        return entry.get('name') or ''
    match = re.match(r'\s*([A-Za-z0-9_][A-Za-z0-9_.-]*)', str(entry))
    return match.group(1) if match else ''


def selected_artifacts(manifest, names, platform_fits):
    """The artifacts to hold for the named top-level gems (all when empty), one per name and version.

    The manifest's closure is completed with the artifacts that `requires` names, so that a
    dependency the manifest holds is never left out. Where a version comes in several
    platforms, the most specific one that fits this host wins (as RubyGems would choose);
    platform_fits(platform) says whether a platform suits this host.
    """
    if manifest.ecosystem != 'ruby':
        raise ManifestError('the cache holds %s artifacts, not gems: point cache at a cache built by airgap.packages.gem_cache'
                            % manifest.ecosystem)
    chosen = manifest.artifacts_for(names)
    by_name = {}
    for artifact in manifest.artifacts:
        by_name.setdefault(artifact.name, []).append(artifact)
    wanted = set(a.name for a in chosen)
    queue = list(chosen)
    while queue:
        artifact = queue.pop()
        for entry in artifact.requires:
            dep = requirement_name(entry)
            if dep and dep not in wanted and dep in by_name:
                wanted.add(dep)
                queue.extend(by_name[dep])
    candidates = [a for a in manifest.artifacts if a.name in wanted]
    groups = {}
    for artifact in candidates:
        groups.setdefault((artifact.name, artifact.version), []).append(artifact)
    result, misfits = [], []
    for key in sorted(groups):
        fitting = [a for a in groups[key] if platform_fits(platform_of(a.platform))]
        if not fitting:
            misfits.extend(groups[key])
            continue
        # A binary build for this platform beats the source gem of the same version.
        fitting.sort(key=lambda a: (platform_of(a.platform) == RUBY_PLATFORM, a.filename))
        result.append(fitting[0])
    if misfits:
        raise VerificationError(
            'no artifact in the cache fits this host for %s: nothing was installed. Rebuild the cache for this '
            "host's environment key (see airgap.packages.platform_facts)"
            % '; '.join('%s is for platform %s' % (a.filename, platform_of(a.platform)) for a in misfits),
            problems=[{'file': a.filename, 'problem': 'platform mismatch', 'platform': platform_of(a.platform)} for a in misfits])
    return result


def missing_dependencies(artifacts, available_names):
    """{artifact filename: [dependency names]} for dependencies neither among artifacts nor in available_names."""
    held = set(a.name for a in artifacts) | set(available_names)
    missing = {}
    for artifact in artifacts:
        lacking = sorted(set(n for n in (requirement_name(e) for e in artifact.requires) if n and n not in held))
        if lacking:
            missing[artifact.filename] = lacking
    return missing


def check_dependencies(cache_dir, artifacts, available_names):
    """Raise VerificationError naming each gem file whose runtime dependency the cache does not hold."""
    missing = missing_dependencies(artifacts, available_names)
    if missing:
        raise VerificationError(
            'cache %s is incomplete, nothing was installed: %s. Rebuild the cache so that it holds the full closure.'
            % (cache_dir, '; '.join('%s requires %s, which the cache does not hold'
                                    % (os.path.join(cache_dir, f), ', '.join(names)) for f, names in sorted(missing.items()))),
            problems=[{'file': os.path.join(cache_dir, f), 'problem': 'missing dependency', 'missing': names}
                      for f, names in sorted(missing.items())])


def _describe(gems):
    """Installed versions of one gem as text; a gem whose extensions were never built, or whose files are gone, says so."""
    return ', '.join(identity(g.version, g.platform) + (' (extensions not built)' if g.missing_extensions else '')
                     + (' (files missing: %s)' % ', '.join(g.missing_files) if g.missing_files else '')
                     for g in sorted(gems, key=_version_key))


def _version_key(gem):
    return _VersionKey(gem.version, platform_of(gem.platform))


class _VersionKey:
    def __init__(self, version, platform):
        self.version = version
        self.platform = platform

    def __lt__(self, other):
        order = compare_gem_versions(self.version, other.version)
        return order < 0 if order else self.platform < other.platform


def _highest(versions):
    best = None
    for version in versions:
        if best is None or compare_gem_versions(version, best) > 0:
            best = version
    return best


def plan_present(artifacts, installed, sync=False, listed_names=()):
    """Steps that make the install dir hold exactly the pinned version of every artifact's gem.

    A gem is converged when its installed versions are exactly the pinned ones, each with its
    extensions built and its files in place (a specification whose gem directory is gone is drift,
    as is a gem directory without its specification: then the gem counts as not installed). Other
    versions of a pinned gem are drift and are removed. sync also removes
    every installed gem whose name is not in listed_names (the whole manifest).
    """
    by_name = {}
    for gem in installed:
        by_name.setdefault(gem.name, []).append(gem)
    wanted = {}
    for artifact in artifacts:
        wanted.setdefault(artifact.name, []).append(artifact)
    steps = []
    for name in sorted(wanted):
        want = wanted[name]
        have = by_name.get(name, [])
        want_ids = set((a.version, platform_of(a.platform)) for a in want)
        have_ids = set((g.version, platform_of(g.platform)) for g in have)
        broken = set((g.version, platform_of(g.platform)) for g in have if g.missing_extensions or g.missing_files)
        to_install = [a for a in want if (a.version, platform_of(a.platform)) not in have_ids - broken]
        to_remove = [g for g in have if (g.version, platform_of(g.platform)) not in want_ids]
        if not to_install and not to_remove:
            continue
        after = ', '.join(identity(a.version, a.platform) for a in sorted(want, key=lambda a: _VersionKey(a.version, platform_of(a.platform))))
        if not have:
            action = INSTALL
        else:
            order = compare_gem_versions(_highest(a.version for a in want), _highest(g.version for g in have))
            if order > 0:
                action = UPGRADE
            elif order < 0:
                action = DOWNGRADE
            elif to_install:
                action = REINSTALL
            else:
                action = PRUNE
        steps.append(GemStep(Change(name, action, _describe(have) or None, after), to_install, to_remove))
    if sync:
        listed = set(listed_names) | set(wanted)
        for name in sorted(n for n in by_name if n not in listed):
            steps.append(GemStep(Change(name, REMOVE, _describe(by_name[name]), None), [], list(by_name[name])))
    return steps


def plan_absent(names, installed, keep_names=()):
    """Steps that remove every installed version of the named gems.

    A gem that keep_names lists, or that a gem staying installed depends on, stays; the second
    value returned maps each gem kept that way to the gems that need it.
    """
    by_name = {}
    for gem in installed:
        by_name.setdefault(gem.name, []).append(gem)
    doomed = set(n for n in names if n in by_name and n not in set(keep_names))
    kept = {}
    while True:
        needed = {}
        for gem in installed:
            if gem.name in doomed:
                continue
            for dep in gem.requires:
                if dep in doomed:
                    needed.setdefault(dep, set()).add(gem.name)
        if not needed:
            break
        # What a staying gem needs stays too, and may in turn keep its own dependencies.
        for dep, needers in needed.items():
            doomed.discard(dep)
            kept.setdefault(dep, set()).update(needers)
    kept = dict((name, sorted(needers)) for name, needers in kept.items())
    steps = [GemStep(Change(name, REMOVE, _describe(by_name[name]), None), [], list(by_name[name])) for name in sorted(doomed)]
    return steps, kept


def install_order(artifacts):
    """Artifacts ordered dependencies first, so an extension that loads a dependency at build time finds it."""
    by_name = dict((a.name, a) for a in artifacts)
    ordered, seen = [], set()

    def visit(artifact, path):
        if artifact.name in seen or artifact.name in path:
            return
        path = path | set([artifact.name])
        for entry in sorted(requirement_name(e) for e in artifact.requires):
            if entry in by_name:
                visit(by_name[entry], path)
        seen.add(artifact.name)
        ordered.append(artifact)

    for artifact in sorted(artifacts, key=lambda a: (a.name, a.version)):
        visit(artifact, frozenset())
    # Several versions of one name (rare) keep manifest order after the first.
    rest = [a for a in sorted(artifacts, key=lambda a: (a.name, a.version)) if a not in ordered]
    return ordered + rest


def toolchain_problems(toolchain):
    """What is missing to build native extensions, as messages naming each missing tool or header."""
    problems = []
    if not toolchain.compiler_path:
        problems.append('C compiler %s (from $CC or RbConfig CC) not found' % toolchain.compiler)
    if not toolchain.make_path:
        problems.append('make program %s (from $MAKE, or make) not found' % toolchain.make)
    for header, present in sorted(toolchain.headers.items()):
        if not present:
            problems.append('Ruby header %s missing (install the Ruby development package, e.g. ruby-dev)' % header)
    return problems


def check_toolchain(steps, toolchain):
    """Raise VerificationError when the plan builds a native extension and the toolchain is incomplete."""
    native = sorted(set(a.filename for step in steps for a in step.install if a.native))
    if not native:
        return
    problems = toolchain_problems(toolchain)
    if problems:
        raise VerificationError(
            'cannot build the native extensions of %s, nothing was installed: %s'
            % (', '.join(native), '; '.join(problems)),
            native_gems=native, missing=problems)


def steps_changes(steps):
    return [step.change for step in steps]


def per_gem_report(artifacts, installed, steps):
    """What happens to each gem in scope: the plan's action, or 'none' with its version."""
    by_name = {}
    for gem in installed:
        by_name.setdefault(gem.name, []).append(gem)
    report = dict((step.change.name, step.change._asdict()) for step in steps)
    for artifact in artifacts:
        if artifact.name not in report:
            text = _describe(by_name.get(artifact.name, [])) or None
            report[artifact.name] = {'name': artifact.name, 'action': NONE, 'before': text, 'after': text}
    return [report[name] for name in sorted(report)]
