# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The artifact store: its layout, its pointers, and the backends that read and write it.

A store is a URL: ``file:///path`` (a directory, for example on removable media),
``s3://bucket/prefix`` (through boto3, see store_s3.py) or ``https://host/path`` (the same tree
behind a web server, read only). Its layout under the URL:

    artifacts/sha256/<first two hex>/<sha256>    every artifact once, named by its content
    manifests/<digest>.json                      every manifest once, its canonical JSON
    channels/<channel>/<ecosystem>/<key>.json    one small mutable pointer per channel and key
    channels/<channel>/index.json                which keys the channel has (for messages only)

A store is read only through pointers and manifests: a manifest is used only when the sha256
of its bytes is the digest the pointer names, and an artifact only when its size and sha256
are those the manifest lists. A manifest's signature sits beside it (``manifests/<digest>.json.sig``,
written before any pointer names the manifest); a pointer carries its own signature inside, so
that a node never reads a new pointer with an old signature. See signing.py.

Runs on the controller and on targets: standard library only (the S3 backend imports boto3
when it is used).
"""

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from urllib.parse import quote, urlsplit

from .credentials import strip_credentials
from .errors import AirgapError, ManifestError, VerificationError, check_seconds
from .manifest import ECOSYSTEMS, SHA256_HEX, Manifest, canonical_json
from .signing import SIGNATURE_SUFFIX

POINTER_SCHEMA = 1
DEFAULT_CHANNEL = 'stable'
SCHEMES = ('file', 's3', 'https', 'http')
WRITABLE_SCHEMES = ('file', 's3')
# Pointers, manifests and indexes are small; anything bigger is not what the store should hold.
SMALL_OBJECT_LIMIT = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$')

# Options shared by publish_cache and fetch_cache (documented in the airgap.packages.store doc fragment).
STORE_ARGUMENT_SPEC = dict(
    store=dict(type='str', required=True),
    channel=dict(type='str', default=DEFAULT_CHANNEL),
    endpoint_url=dict(type='str', aliases=['aws_endpoint_url']),
    region=dict(type='str', aliases=['aws_region']),
    profile=dict(type='str', aliases=['aws_profile']),
    access_key=dict(type='str', aliases=['aws_access_key_id'], no_log=True),
    secret_key=dict(type='str', aliases=['aws_secret_access_key'], no_log=True),
    session_token=dict(type='str', aliases=['aws_session_token'], no_log=True),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    timeout=dict(type='int', default=60),
)


class StoreError(AirgapError):
    """The store cannot be reached or refuses a request; the message names the store and the remedy."""


class NotInStore(StoreError):
    """An object the store was asked for is not there."""


def artifact_object(sha256):
    if not SHA256_HEX.match(sha256 or ''):
        raise ManifestError('%r is not a sha256 (64 lowercase hex digits)' % (sha256,))
    return 'artifacts/sha256/%s/%s' % (sha256[:2], sha256)


def manifest_object(digest):
    if not SHA256_HEX.match(digest or ''):
        raise ManifestError('%r is not a manifest digest (64 lowercase hex digits)' % (digest,))
    return 'manifests/%s.json' % digest


def pointer_object(channel, ecosystem, key):
    return 'channels/%s/%s/%s.json' % (check_name('channel', channel), check_ecosystem(ecosystem), check_name('key', key))


def index_object(channel):
    return 'channels/%s/index.json' % check_name('channel', channel)


def check_name(what, value):
    """A channel or environment key: one path segment of letters, digits and ._+-."""
    if not isinstance(value, str) or not _NAME.match(value) or '..' in value:
        raise AirgapError('%s %r is not a valid name: use letters, digits and . _ + - (at most 200, no "..")' % (what, value))
    return value


def check_ecosystem(ecosystem):
    if ecosystem not in ECOSYSTEMS:
        raise AirgapError('ecosystem %r: expected one of %s' % (ecosystem, ', '.join(ECOSYSTEMS)))
    return ecosystem


class Pointer:
    """Which manifest a channel serves for one environment key; sequence grows with every move."""

    FIELDS = ('channel', 'ecosystem', 'key', 'manifest', 'sequence', 'previous', 'published')

    def __init__(self, channel, ecosystem, key, manifest, sequence=1, previous='', published='', signature=None):
        self.channel = channel
        self.ecosystem = ecosystem
        self.key = key
        self.manifest = manifest
        self.sequence = int(sequence)
        self.previous = previous or ''
        self.published = published or ''
        self.signature = signature  # bytes of an SSH signature of payload(), or None

    def payload(self):
        """The bytes a signature covers: every field but the signature, canonical."""
        data = dict((field, getattr(self, field)) for field in self.FIELDS)
        data['schema'] = POINTER_SCHEMA
        return canonical_json(data)

    def signed(self, signer):
        """This pointer with signer's signature (itself when signer is None)."""
        if signer is not None:
            self.signature = signer.sign(self.payload())
        return self

    def to_bytes(self):
        data = json.loads(self.payload().decode('ascii'))
        if self.signature:
            data['signature'] = self.signature.decode('ascii')
        return canonical_json(data) + b'\n'

    def moved_to(self, digest):
        """The next pointer of this channel and key, naming digest."""
        return Pointer(self.channel, self.ecosystem, self.key, digest, self.sequence + 1, self.manifest, utc_now())

    @classmethod
    def from_bytes(cls, data, origin, channel, ecosystem, key):
        """Parse a pointer and check that it is the one asked for (a pointer copied to another key is refused)."""
        try:
            document = json.loads(data.decode('utf-8'))
        except ValueError as exc:
            raise StoreError('the pointer %s is not valid JSON (%s): publish the channel again' % (origin, exc))
        if not isinstance(document, dict) or document.get('schema') != POINTER_SCHEMA:
            raise StoreError('the pointer %s is not a schema %d pointer of airgap.packages: publish the channel again with '
                             'this version of the collection' % (origin, POINTER_SCHEMA))
        try:
            signature = document.get('signature')
            pointer = cls(signature=signature.encode('ascii') if signature else None,
                          **dict((field, document[field]) for field in cls.FIELDS if field in document))
            manifest_object(pointer.manifest)
        except (TypeError, ValueError, AttributeError, AirgapError) as exc:
            raise StoreError('the pointer %s is malformed (%s): publish the channel again' % (origin, exc))
        expected = (channel, ecosystem, key)
        if (pointer.channel, pointer.ecosystem, pointer.key) != expected:
            raise StoreError('the pointer %s names channel %s, %s key %s, not the one it is stored as (%s, %s, %s): '
                             'it was copied or altered; publish the channel again'
                             % ((origin, pointer.channel, pointer.ecosystem, pointer.key) + expected))
        return pointer


def utc_now():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


class Backend:
    """The object operations every store offers, with a count of the requests made."""

    writable = False

    def __init__(self, url):
        self.url = url
        self.requests = 0

    def read(self, name, limit=SMALL_OBJECT_LIMIT):
        """The bytes of a small object; NotInStore when it is absent."""
        raise NotImplementedError

    def download(self, name, path, limit):
        """Stream an object into path, reading at most limit + 1 bytes; returns (size, sha256)."""
        raise NotImplementedError

    def exists(self, name):
        raise NotImplementedError

    def upload(self, name, path):
        """Store the file at path as name, if no object has that name yet (names are content addresses)."""
        raise NotImplementedError

    def write(self, name, data):
        """Store data as name, replacing what is there (pointers and the index)."""
        raise NotImplementedError

    def locate(self, name):
        return '%s/%s' % (self.url.rstrip('/'), name)


class FileBackend(Backend):
    """A directory tree: every write goes through a temp file in the same directory and a rename."""

    writable = True

    def __init__(self, url, root, create=False):
        super(FileBackend, self).__init__(url)
        self.root = root
        # A publisher may start a store in a new directory; a reader must find one.
        self.create = create

    def _path(self, name):
        return os.path.join(self.root, *name.split('/'))

    def _check_root(self):
        if not os.path.isdir(self.root) and not self.create:
            raise StoreError('the store %s does not exist (%s is not a directory): create it, or mount the media that '
                             'holds it' % (self.url, self.root))

    def read(self, name, limit=SMALL_OBJECT_LIMIT):
        self._check_root()
        self.requests += 1
        try:
            with open(self._path(name), 'rb') as handle:
                data = handle.read(limit + 1)
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise NotInStore('%s is not in the store' % self.locate(name))
            raise StoreError('cannot read %s: %s' % (self.locate(name), exc.strerror or exc))
        if len(data) > limit:
            raise StoreError('%s is larger than %d bytes: not an object this store should hold' % (self.locate(name), limit))
        return data

    def download(self, name, path, limit):
        self._check_root()
        self.requests += 1
        try:
            source = open(self._path(name), 'rb')
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise NotInStore('%s is not in the store' % self.locate(name))
            raise StoreError('cannot read %s: %s' % (self.locate(name), exc.strerror or exc))
        with source:
            return copy_limited(source, path, limit)

    def exists(self, name):
        self.requests += 1
        return os.path.isfile(self._path(name))

    def upload(self, name, path):
        if self.exists(name):
            return False
        with open(path, 'rb') as source:
            self._replace(name, lambda handle: shutil.copyfileobj(source, handle, _CHUNK))
        return True

    def write(self, name, data):
        self._replace(name, lambda handle: handle.write(data))

    def _replace(self, name, fill):
        self.requests += 1
        final = self._path(name)
        directory = os.path.dirname(final)
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            fd, tmp = tempfile.mkstemp(prefix='.incoming-', dir=directory)
        except (IOError, OSError) as exc:
            raise StoreError('cannot write into the store %s (%s): %s' % (self.url, directory, exc.strerror or exc))
        try:
            with os.fdopen(fd, 'wb') as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.rename(tmp, final)
        except (IOError, OSError) as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if exc.errno == errno.ENOSPC:
                raise StoreError('no space left on the device holding the store %s: free space and publish again' % self.url)
            raise StoreError('cannot write %s: %s' % (self.locate(name), exc.strerror or exc))


class HttpBackend(Backend):
    """The store tree behind a web server or CDN, read with Ansible's own URL code."""

    def __init__(self, url, open_url, validate_certs=True, ca_path=None, timeout=60):
        super(HttpBackend, self).__init__(url)
        self._open_url = open_url
        self._options = dict(validate_certs=validate_certs, ca_path=ca_path, timeout=timeout, follow_redirects='safe')

    def _open(self, name, method='GET'):
        self.requests += 1
        url = self.locate(quote(name))
        try:
            return self._open_url(url, method=method, **self._options)
        except Exception as exc:  # urllib's HTTPError, URLError, socket and SSL errors all land here
            status = getattr(exc, 'code', None)
            if status == 404:
                raise NotInStore('%s is not in the store' % self.locate(name))
            if status in (401, 403):
                raise StoreError('the store %s refused %s (HTTP %s): check the web server\'s access rules for this node'
                                 % (self.url, name, status))
            reason = ('HTTP %s' % status) if status else str(getattr(exc, 'reason', None) or exc)
            raise StoreError('cannot fetch %s (%s): check that this node reaches the store, then run again'
                             % (self.locate(name), reason))

    def read(self, name, limit=SMALL_OBJECT_LIMIT):
        response = self._open(name)
        try:
            data = response.read(limit + 1)
        except Exception as exc:
            raise StoreError('the transfer of %s broke off (%s): run again' % (self.locate(name), exc))
        if len(data) > limit:
            raise StoreError('%s is larger than %d bytes: not an object this store should hold' % (self.locate(name), limit))
        return data

    def download(self, name, path, limit):
        response = self._open(name)
        try:
            size, sha256 = copy_limited(response, path, limit)
        except AirgapError:
            raise
        except Exception as exc:
            raise StoreError('the transfer of %s broke off (%s): run again' % (self.locate(name), exc))
        # A server that dies mid-body ends the stream early without an error; its Content-Length tells.
        announced = response.headers.get('Content-Length') if getattr(response, 'headers', None) else None
        if announced and announced.isdigit() and size < int(announced):
            raise StoreError('the transfer of %s broke off after %d of %s bytes: run again' % (self.locate(name), size, announced))
        return size, sha256

    def exists(self, name):
        try:
            self._open(name, method='HEAD').close()
        except NotInStore:
            return False
        return True


def copy_limited(source, path, limit):
    """Copy a readable into path, stopping after limit + 1 bytes; returns (size, sha256).

    Errors of the local disk become an AirgapError naming it; errors of reading are the caller's.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        handle = open(path, 'wb')
    except (IOError, OSError) as exc:
        raise local_write_error(path, exc)
    with handle:
        while size <= limit:
            chunk = source.read(min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
            try:
                handle.write(chunk)
            except (IOError, OSError) as exc:
                raise local_write_error(path, exc)
    return size, digest.hexdigest()


def local_write_error(path, exc):
    directory = os.path.dirname(path)
    if exc.errno == errno.ENOSPC:
        return AirgapError('no space left on the device holding %s: free space and run again; nothing was staged' % directory)
    return AirgapError('cannot write %s: %s' % (path, exc.strerror or exc))


def open_store(params, open_url=None, writable=False):
    """The backend for the store URL and connection options of a publish_cache or fetch_cache task."""
    url = (params.get('store') or '').strip()
    parts = urlsplit(url)
    check_seconds('timeout', params.get('timeout', 60), 'one answer of the store')
    endpoint = params.get('endpoint_url')
    endpoint_parts = urlsplit(endpoint or '')
    if endpoint and not (endpoint_parts.scheme in ('http', 'https') and endpoint_parts.hostname):
        raise AirgapError('endpoint_url %r is not an http:// or https:// URL: give the S3 endpoint, such as '
                          'https://s3.eu-west-1.amazonaws.com' % strip_credentials(endpoint))
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise AirgapError('store %r: expected a URL of the form s3://bucket/prefix, file:///path or https://host/path'
                          % strip_credentials(url))
    if writable and scheme not in WRITABLE_SCHEMES:
        raise AirgapError('store %s is read only: publish to s3:// or file:// and serve that tree over %s'
                          % (strip_credentials(url), scheme))
    display = strip_credentials(url).rstrip('/')
    if scheme == 'file':
        if parts.netloc not in ('', 'localhost') or not parts.path.startswith('/'):
            raise AirgapError('store %r: a file store is file:///absolute/path' % url)
        return FileBackend(display, parts.path.rstrip('/') or '/', create=writable)
    if scheme == 's3':
        from .store_s3 import S3Backend
        return S3Backend(display, parts.netloc, parts.path.strip('/'), params)
    if open_url is None:
        raise AirgapError('an %s store needs the module\'s URL opener' % scheme)
    return HttpBackend(display, open_url, params.get('validate_certs', True), params.get('ca_path'), params.get('timeout', 60))


def read_pointer(backend, channel, ecosystem, key, trust=None):
    """The pointer of channel and key (its signature checked, with trust), or None when the channel has no cache
    for that key."""
    name = pointer_object(channel, ecosystem, key)
    try:
        data = backend.read(name)
    except NotInStore:
        return None
    pointer = Pointer.from_bytes(data, backend.locate(name), channel, ecosystem, key)
    if trust is not None:
        trust.verify(pointer.payload(), pointer.signature, backend.locate(name))
    return pointer


def read_index(backend, channel):
    """{ecosystem: {key: digest}} of a channel, as publish_cache last wrote it (empty when there is none)."""
    try:
        data = backend.read(index_object(channel))
        document = json.loads(data.decode('utf-8'))
        pointers = document['pointers']
        return dict((ecosystem, dict(pointers.get(ecosystem) or {})) for ecosystem in ECOSYSTEMS)
    except NotInStore:
        return dict((ecosystem, {}) for ecosystem in ECOSYSTEMS)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StoreError('the channel index %s is malformed: publish the channel again' % backend.locate(index_object(channel)))


def index_bytes(channel, pointers):
    return canonical_json({'schema': POINTER_SCHEMA, 'channel': channel, 'pointers': pointers}) + b'\n'


def read_manifest(backend, digest, trust=None):
    """The manifest stored under digest, after checking that its bytes hash to it (and, with trust, its signature):
    (manifest, bytes, signature or None)."""
    name = manifest_object(digest)
    try:
        data = backend.read(name)
    except NotInStore:
        raise NotInStore('the store %s has no manifest %s (%s): the publish that names it did not finish, or the store was '
                         'pruned; publish the cache again' % (backend.url, digest, backend.locate(name)))
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise VerificationError('the manifest %s has sha256 %s, not the digest %s it is stored under: it was altered in the '
                                'store; nothing was staged. Publish the cache again' % (backend.locate(name), actual, digest),
                                file=backend.locate(name), expected_sha256=digest, actual_sha256=actual)
    try:
        manifest = Manifest.from_dict(json.loads(data.decode('utf-8')), origin=backend.locate(name))
    except ValueError as exc:
        raise ManifestError('%s is not valid JSON (%s): publish the cache again' % (backend.locate(name), exc))
    if manifest.digest != digest:
        raise ManifestError('%s is not in canonical form (it reads as digest %s): publish the cache again with this '
                            'collection' % (backend.locate(name), manifest.digest))
    signature = read_optional(backend, name + SIGNATURE_SUFFIX)
    if trust is not None:
        trust.verify(data, signature, backend.locate(name))
    return manifest, data, signature


def read_optional(backend, name):
    try:
        return backend.read(name)
    except NotInStore:
        return None


def describe_index(index, ecosystem):
    keys = sorted(index.get(ecosystem) or {})
    return ', '.join(keys) if keys else 'none'
