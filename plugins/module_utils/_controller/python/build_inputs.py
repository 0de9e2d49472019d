# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build inputs: what a builder host of one environment key needs to build that key's wheels from sdists offline.

When wheel_cache knows that a key has a builder (builder_keys), a native wheel that only an sdist provides for the
key is not built on the controller (a pure one built here fits every key, and stays). The key's cache is left as
it was and the key gets a build-input cache, `<dest>/builds/<key>/`: the sdists and the wheels of their PEP 518
`build-system.requires`, resolved for that key, with pip (the builder runs pip from its wheel) and wheel, under a
manifest like any cache, with `inputs.purpose` = build. ship_cache delivers it to the builder, where wheel_cache's
build_from builds it with no index (`_target/python/wheel_build.py`); the wheels come back as built_wheels.
"""

import email.parser
import os
import tarfile
import zipfile

try:
    import tomllib
except ImportError:  # pragma: no cover - ansible-core 2.19 controllers run Python 3.11 or newer
    tomllib = None

from ..._common.errors import ResolutionError
from ..._common.manifest import Artifact, Manifest, TopLevel, sha256_file

PURPOSE = 'build'
BUILDS_DIR = 'builds'
# pip's build requirements for a project without a [build-system] table (PEP 518).
DEFAULT_BUILD_REQUIRES = ('setuptools>=40.8.0', 'wheel')
# The builder runs pip from its wheel; older setuptools backends ask for wheel at build time.
ALWAYS = ('pip', 'wheel')


def build_inputs_path(dest, key):
    return os.path.join(dest, BUILDS_DIR, key)


def build_requires(sdist_path):
    """The `build-system.requires` of an sdist's pyproject.toml, or pip's default without one."""
    name = os.path.basename(sdist_path)
    try:
        text = _top_level_member(sdist_path, 'pyproject.toml')
        table = tomllib.loads(text.decode('utf-8')).get('build-system', {}) if text is not None else {}
    except (OSError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ResolutionError('cannot read the build requirements of %s: %s' % (name, exc), file=name)
    requires = table.get('requires', list(DEFAULT_BUILD_REQUIRES))
    if not isinstance(requires, list) or not all(isinstance(item, str) for item in requires):
        raise ResolutionError('%s: build-system.requires in its pyproject.toml is %r, not a list of requirements'
                              % (name, requires), file=name)
    return requires


def static_metadata(sdist_path):
    """An sdist's PKG-INFO when it states its dependencies for every build (core metadata 2.2 or newer, with
    Requires-Dist not declared Dynamic), else None: what a key's builder will build, without building it here."""
    try:
        data = _top_level_member(sdist_path, 'PKG-INFO')
    except (OSError, tarfile.TarError, zipfile.BadZipFile):
        return None
    if data is None:
        return None
    text = data.decode('utf-8', 'replace')
    message = email.parser.HeaderParser().parsestr(text)
    try:
        version = tuple(int(part) for part in (message.get('Metadata-Version') or '0').split('.')[:2])
    except ValueError:
        return None
    dynamic = [field.strip().lower() for field in message.get_all('Dynamic') or []]
    if version < (2, 2) or 'requires-dist' in dynamic:
        return None
    return text


def _top_level_member(archive, wanted):
    """The bytes of `<project-version>/<wanted>` in an sdist, or None; nothing is extracted."""
    if archive.endswith('.zip'):
        with zipfile.ZipFile(archive) as handle:
            names = [n for n in handle.namelist() if n.count('/') == 1 and n.endswith('/' + wanted)]
            return handle.read(names[0]) if names else None
    with tarfile.open(archive) as handle:
        for member in handle:
            if member.isfile() and member.name.lstrip('./').count('/') == 1 and member.name.endswith('/' + wanted):
                return handle.extractfile(member).read()
    return None


def plan(state, pending, resolve, fetch, generator):
    """The build-input manifest for state's key and the files it lists (filename -> path).

    pending: the candidates to build; resolve(requirements) resolves [(text, origin)] for the key; fetch(candidate)
    returns (path, artifact) of a resolved wheel.
    """
    requires = dict((candidate.name, build_requires(candidate.sdist_path) + list(ALWAYS)) for candidate in pending)
    wanted = {}
    for candidate in pending:
        for text in requires[candidate.name]:
            wanted.setdefault(text, 'build-system.requires of %s %s' % (candidate.name, candidate.version))
    resolution = resolve(sorted(wanted.items()))
    unbuildable = sorted('%s %s' % (c.name, c.version) for c in resolution.missing)
    if unbuildable:
        raise ResolutionError(
            'the build dependencies of %s for %s have no wheel for that key: %s; pin build dependencies that publish '
            'wheels for it' % (', '.join(sorted(c.name for c in pending)), state.key, ', '.join(unbuildable)),
            platform=state.key)
    closures = dict((text, closure) for text, _name, closure in resolution.toplevel)
    sources = {}
    artifacts = []
    for candidate in resolution.pins.values():
        path, artifact = fetch(candidate)
        sources[artifact.filename] = path
        artifacts.append(artifact)
    requirements = []
    for candidate in pending:
        filename = os.path.basename(candidate.sdist_path)
        sources[filename] = candidate.sdist_path
        artifacts.append(Artifact(filename, candidate.name, str(candidate.version), os.path.getsize(candidate.sdist_path),
                                  sha256_file(candidate.sdist_path), source=candidate.dist.source))
        closure = set()
        for text in requires[candidate.name]:
            closure.update(closures.get(text, ()))
        requirements.append(TopLevel('%s==%s' % (candidate.name, candidate.version), candidate.name, closure))
    manifest = Manifest('python', state.description, requirements, artifacts, generator=generator,
                        inputs={'purpose': PURPOSE})
    return manifest, sources


def build_entry(key, path, manifest):
    """The result entry of one key's build inputs: what the role ships to the key's builder."""
    sdists = [a for a in manifest.artifacts if not a.filename.endswith('.whl')]
    return {'key': key, 'path': path, 'digest': manifest.digest,
            'sdists': [{'name': a.name, 'version': a.version, 'filename': a.filename, 'sha256': a.sha256} for a in sdists]}
