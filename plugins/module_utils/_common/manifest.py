# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cache manifest: one format for wheel and gem caches, read, written and verified here.

Runs on the controller and on targets: standard library only.
"""

import hashlib
import json
import os
import re

from .credentials import strip_credentials
from .errors import ManifestError, VerificationError
from .fsutil import atomic_write_bytes
from .signing import SIGNATURE_SUFFIX, read_signature


SCHEMA_VERSION = 1
MANIFEST_NAME = 'manifest.json'
PYLOCK_NAME = 'pylock.toml'
# What a cache directory holds beside the artifacts its manifest lists: shipped, published and kept with them.
COMPANION_NAMES = (MANIFEST_NAME, MANIFEST_NAME + SIGNATURE_SUFFIX, PYLOCK_NAME)
ECOSYSTEMS = ('python', 'ruby')
_HASH_CHUNK = 1024 * 1024
# A sha256 as hex: how artifacts are checked and how manifests, staged caches and store objects are named.
SHA256_HEX = re.compile(r'^[0-9a-f]{64}$')


def _check(condition, what):
    if not condition:
        raise ManifestError(what)


def _text(value):
    return isinstance(value, str)


def _json_type(value):
    for kind, name in ((bool, 'a boolean'), (dict, 'an object'), (list, 'a list'), (str, 'a string'), (int, 'a number'),
                       (float, 'a number')):
        if isinstance(value, kind):
            return name
    return repr(value)


def _texts(value):
    return isinstance(value, list) and all(_text(item) for item in value)


class Artifact:
    """One file of a cache, with everything needed to verify and plan its installation."""

    FIELDS = ('filename', 'name', 'version', 'size', 'sha256', 'platform', 'requires', 'source', 'built', 'native', 'built_from')

    def __init__(self, filename, name, version, size, sha256, platform='', requires=(), source='', built=False, native=False,
                 built_from=None):
        self.filename = filename
        self.name = name
        self.version = version
        self.size = int(size)
        self.sha256 = sha256
        self.platform = platform
        self.requires = list(requires)
        self.source = strip_credentials(source)
        self.built = bool(built)
        self.native = bool(native)
        # Provenance of a wheel a builder host built from an sdist: the sdist's sha256, the builder and its toolchain.
        self.built_from = dict(built_from or {})

    def to_dict(self):
        data = dict((field, getattr(self, field)) for field in self.FIELDS)
        if not self.built_from:
            del data['built_from']  # optional: manifests without it keep their digest
        return data

    @classmethod
    def from_dict(cls, data):
        """An artifact entry, checked field by field: a filename is a plain file name of the cache directory."""
        _check(isinstance(data, dict), 'an artifact entry is %r, not an object' % (data,))
        missing = [field for field in ('filename', 'name', 'version', 'size', 'sha256') if field not in data]
        _check(not missing, 'artifact entry %r lacks %s' % (data.get('filename', data), ', '.join(missing)))
        filename = data['filename']
        # Hidden names are the staging directories' own (.incoming-*, .pointers).
        _check(_text(filename) and filename and filename != MANIFEST_NAME and not filename.startswith('.') and '/' not in filename
               and '\\' not in filename and '\0' not in filename,
               'artifact filename %r is not a plain file name of the cache directory' % (filename,))
        _check(_text(data['name']) and data['name'] and _text(data['version']) and data['version'],
               'artifact %s has no name or version' % filename)
        size = data['size']
        _check(isinstance(size, int) and not isinstance(size, bool) and size >= 0,
               'artifact %s has size %r, not a number of bytes' % (filename, size))
        _check(_text(data['sha256']) and SHA256_HEX.match(data['sha256']),
               'artifact %s has sha256 %r, not 64 lowercase hex digits' % (filename, data['sha256']))
        _check(_texts(data.get('requires', [])), 'artifact %s has requires %r, not a list of names' % (filename, data.get('requires')))
        for field in ('platform', 'source'):
            _check(_text(data.get(field, '')), 'artifact %s has %s %r, not a string' % (filename, field, data.get(field)))
        built_from = data.get('built_from', {})
        _check(isinstance(built_from, dict) and all(_text(value) for value in built_from.values()),
               'artifact %s has built_from %r, not an object of strings' % (filename, built_from))
        return cls(**dict((field, data[field]) for field in cls.FIELDS if field in data))

    def __repr__(self):
        return 'Artifact(%s %s %s)' % (self.name, self.version, self.filename)


class TopLevel:
    """A requirement as the user asked for it, resolved to a name and the names of its closure."""

    FIELDS = ('requirement', 'name', 'closure')

    def __init__(self, requirement, name, closure):
        self.requirement = requirement
        self.name = name
        self.closure = sorted(set(closure) | set([name]))

    def to_dict(self):
        return dict((field, getattr(self, field)) for field in self.FIELDS)

    @classmethod
    def from_dict(cls, data):
        _check(isinstance(data, dict), 'a requirements entry is %r, not an object' % (data,))
        _check(_text(data.get('requirement')) and _text(data.get('name')) and data['name'],
               'requirements entry %r lacks its requirement or name' % (data,))
        _check(_texts(data.get('closure', [])), 'requirement %s has closure %r, not a list of names' % (data['name'], data.get('closure')))
        return cls(data['requirement'], data['name'], data.get('closure', ()))


class Manifest:
    """What a cache directory holds, for which environment, and why."""

    def __init__(self, ecosystem, environment, requirements, artifacts, generator='', inputs=None):
        if ecosystem not in ECOSYSTEMS:
            raise ManifestError('unknown ecosystem %r: expected one of %s' % (ecosystem, ', '.join(ECOSYSTEMS)))
        self.ecosystem = ecosystem
        self.environment = dict(environment)
        self.requirements = list(requirements)
        self.artifacts = sorted(artifacts, key=lambda a: (a.name, a.version, a.filename))
        self.generator = generator
        # What the cache was built from (requirements, indexes without credentials, options): a builder
        # compares it with its next inputs to decide, without any network access, that nothing changed.
        self.inputs = dict(inputs or {})

    @property
    def environment_key(self):
        return self.environment.get('key', '')

    def to_dict(self):
        data = {
            'schema': SCHEMA_VERSION,
            'ecosystem': self.ecosystem,
            'generator': self.generator,
            'environment': self.environment,
            'requirements': [top.to_dict() for top in self.requirements],
            'artifacts': [artifact.to_dict() for artifact in self.artifacts],
        }
        if self.inputs:
            data['inputs'] = self.inputs  # optional: manifests without it keep their digest
        return data

    def canonical_bytes(self):
        return canonical_json(self.to_dict())

    @property
    def digest(self):
        """sha256 of the canonical JSON: names the shipped copy and keys idempotency."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def artifacts_for(self, names=None):
        """The artifacts that the closure of the named top-level requirements needs (all when names is empty)."""
        if not names:
            return list(self.artifacts)
        by_name = dict((top.name, top) for top in self.requirements)
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise ManifestError(
                '%s not among the top-level requirements of this cache (%s); rebuild the cache with %s added'
                % (', '.join(unknown), ', '.join(sorted(by_name)) or 'none', 'them' if len(unknown) > 1 else 'it'))
        wanted = set()
        for name in names:
            wanted.update(by_name[name].closure)
        return [artifact for artifact in self.artifacts if artifact.name in wanted]

    @classmethod
    def from_dict(cls, data, origin='manifest'):
        if not isinstance(data, dict):
            raise ManifestError('%s is not a JSON object; rebuild the cache' % origin)
        schema = data.get('schema')
        if schema != SCHEMA_VERSION:
            raise ManifestError(
                '%s has schema %r, this collection reads schema %d; rebuild the cache with this version of airgap.packages'
                % (origin, schema, SCHEMA_VERSION))
        try:
            _check(data.get('ecosystem') in ECOSYSTEMS,
                   'ecosystem is %r, expected one of %s' % (data.get('ecosystem'), ', '.join(ECOSYSTEMS)))
            for field, kind, name in (('environment', dict, 'an object'), ('inputs', dict, 'an object'),
                                      ('requirements', list, 'a list'), ('artifacts', list, 'a list of objects')):
                value = data.get(field)
                _check(value is None or isinstance(value, kind), '%s must be %s, not %s' % (field, name, _json_type(value)))
            _check(_text(data.get('generator', '')), 'generator must be a string')
            return cls(
                ecosystem=data['ecosystem'],
                environment=data.get('environment') or {},
                requirements=[TopLevel.from_dict(top) for top in data.get('requirements', [])],
                artifacts=[Artifact.from_dict(artifact) for artifact in data.get('artifacts', [])],
                generator=data.get('generator', ''),
                inputs=data.get('inputs') or {},
            )
        except ManifestError as exc:
            raise ManifestError('%s is malformed: %s; rebuild the cache' % (origin, exc))


def canonical_json(data):
    return json.dumps(data, sort_keys=True, separators=(',', ':'), ensure_ascii=True).encode('ascii')


def manifest_path(cache_dir):
    return os.path.join(cache_dir, MANIFEST_NAME)


def load_manifest(cache_dir, trust=None):
    """Read and validate the manifest of a cache directory; with trust (a signing.Trust), also its signature."""
    path = manifest_path(cache_dir)
    try:
        with open(path, 'rb') as handle:
            data = json.loads(handle.read().decode('utf-8'))
    except (IOError, OSError) as exc:
        raise ManifestError('cannot read %s (%s): is %s a cache built by airgap.packages?' % (path, exc.strerror or exc, cache_dir))
    except ValueError as exc:
        raise ManifestError('%s is not valid JSON (%s); rebuild the cache' % (path, exc))
    manifest = Manifest.from_dict(data, origin=path)
    if trust is not None:
        # What is signed is the canonical JSON, the digest's own bytes, whatever layout the file has.
        trust.verify(manifest.canonical_bytes(), read_signature(path), path)
    return manifest


def write_manifest(cache_dir, manifest):
    """Write the manifest atomically (temp file + rename) and return its digest.

    A signature of an earlier manifest goes: it no longer signs what the file says (the builder signs anew).
    """
    data = json.dumps(manifest.to_dict(), sort_keys=True, indent=2).encode('utf-8') + b'\n'
    atomic_write_bytes(manifest_path(cache_dir), data)
    try:
        os.unlink(manifest_path(cache_dir) + SIGNATURE_SUFFIX)
    except OSError:
        pass
    return manifest.digest


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


# The sha256 of each file this process has read, by the file's identity and change time: a run that checks one
# file several times (host_state asks of each environment, gem_offline plans again under its lock) reads it once.
# Any write, rename over it or chmod changes st_ctime_ns, which no user can set back, so a changed file is read again.
_HASHED = {}


def _hashed_key(path, status):
    return (os.path.abspath(path), status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def _sha256_once(path, status):
    key = _hashed_key(path, status)
    if key not in _HASHED:
        _HASHED[key] = sha256_file(path)
    return _HASHED[key]


def remember_sha256(path, status, sha256):
    """Record for this run that the file at path, as status describes it, has that sha256 (known without reading it:
    staging's verified record)."""
    _HASHED[_hashed_key(path, status)] = sha256


def artifact_problem(cache_dir, artifact, check_sha256=True):
    """Why a cached artifact cannot be trusted, or None when its size and sha256 (or, without check_sha256, only its
    size) match the manifest."""
    path = os.path.join(cache_dir, artifact.filename)
    try:
        status = os.stat(path)
    except OSError:
        return {'file': path, 'problem': 'missing', 'expected_size': artifact.size, 'expected_sha256': artifact.sha256}
    size = status.st_size
    if size != artifact.size:
        return {'file': path, 'problem': 'size mismatch', 'expected_size': artifact.size, 'actual_size': size,
                'expected_sha256': artifact.sha256}
    if not check_sha256:
        return None
    actual = _sha256_once(path, status)
    if actual != artifact.sha256:
        return {'file': path, 'problem': 'sha256 mismatch', 'expected_sha256': artifact.sha256, 'actual_sha256': actual,
                'size': size}
    return None


def describe_problem(problem):
    if problem['problem'] == 'missing':
        return '%s: missing (expected %d bytes, sha256 %s)' % (problem['file'], problem['expected_size'], problem['expected_sha256'])
    if problem['problem'] == 'size mismatch':
        return '%s: size %d, expected %d (sha256 %s): truncated or replaced' % (
            problem['file'], problem['actual_size'], problem['expected_size'], problem['expected_sha256'])
    return '%s: sha256 %s, expected %s: altered' % (problem['file'], problem['actual_sha256'], problem['expected_sha256'])


def verify_artifacts(cache_dir, artifacts):
    """Check every artifact's size and sha256; raise one VerificationError that lists every bad file."""
    problems = [p for p in (artifact_problem(cache_dir, artifact) for artifact in artifacts) if p]
    if problems:
        raise VerificationError(
            'cache %s failed verification, nothing was installed: %s. Ship or rebuild the cache again.'
            % (cache_dir, '; '.join(describe_problem(p) for p in problems)),
            problems=problems)
