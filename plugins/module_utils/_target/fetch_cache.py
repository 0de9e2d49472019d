# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pull mode: a node fetches the cache its channel names for its environment key from a store.

One pointer request answers a node that already holds the named cache. Otherwise the manifest
is fetched and checked against the pointer's digest, the artifacts the node already holds in
other staged caches are copied from there, the rest are downloaded, and the whole directory is
verified and renamed into place by the staging code that ship_cache uses. Runs on targets:
standard library only (boto3 for s3:// stores).
"""

import json
import os

from .._common.errors import AirgapError, ManifestError, VerificationError
from .._common.fsutil import atomic_write_bytes, check_trusted_directory
from .._common.manifest import MANIFEST_NAME, load_manifest
from .._common.signing import SIGNATURE_SUFFIX, SignatureError
from .._common.staging import (
    check_keep, check_settled, check_stage, clear_leftovers, is_staged, prune_stage, stage_directory, staged_names, staged_path,
)
from .._common.store import (
    StoreError, artifact_object, copy_limited, describe_index, pointer_object, read_index, read_manifest, read_pointer,
)


class FetchRequest:
    """What fetch_cache is asked: which cache (channel, ecosystem, key) into which staging root."""

    def __init__(self, channel, ecosystem, key, dest, keep=2, check_mode=False, trust=None, settled=()):
        self.settled = check_settled(settled)
        self.channel = channel
        self.ecosystem = ecosystem
        self.key = key
        self.dest = dest
        self.keep = keep
        self.check_mode = check_mode
        self.trust = trust  # a signing.Trust: pointers and manifests must be signed by its keys


def fetch_cache(backend, request):
    """Stage the cache the channel names for the key under request.dest; returns the module result."""
    check_keep(request.keep)
    # The staging directory is checked (and made, 0700) before the store is even asked.
    exists = check_stage(request.dest, create=not request.check_mode)
    pointer = read_pointer(backend, request.channel, request.ecosystem, request.key, request.trust)
    if pointer is None:
        index = read_index(backend, request.channel)
        raise StoreError(
            'the channel %s of the store %s has no %s cache for the environment key %s (this node\'s); the channel has '
            '%s keys: %s. Publish a cache for this key (publish.yml with a host of this kind, or its platform '
            'description), or point the node at the channel that has it'
            % (request.channel, backend.url, request.ecosystem, request.key, request.ecosystem,
               describe_index(index, request.ecosystem)),
            key=request.key, channel=request.channel, keys=sorted(index.get(request.ecosystem) or {}))
    if request.trust is not None:
        refuse_replay(request, pointer, backend.locate(pointer_object(request.channel, request.ecosystem, request.key)))
    digest = pointer.manifest
    path = staged_path(request.dest, digest)
    result = dict(changed=False, path=path, digest=digest, channel=request.channel, ecosystem=request.ecosystem,
                  key=request.key, sequence=pointer.sequence, fetched=False, downloaded_bytes=0, downloaded=[],
                  reused=[], pruned=[], settled=False)
    if exists and digest in request.settled:
        # host_state vouched for this digest in this run (verified, trusted, nothing to prune): nothing is read again.
        if request.trust is not None and not request.check_mode:
            remember_pointer(request, pointer)
        result['settled'] = True
        result['requests'] = backend.requests
        return result
    present = exists and is_staged(request.dest, digest, request.trust, record=not request.check_mode)
    if not present and request.trust is not None and is_staged(request.dest, digest):
        # The staged copy is intact but its signature is not trusted (the keys rolled): take the store's, if trusted.
        _manifest, _data, signature = read_manifest(backend, digest, request.trust)
        if not request.check_mode:
            atomic_write_bytes(os.path.join(path, MANIFEST_NAME + SIGNATURE_SUFFIX), signature)
        result.update(changed=True, resigned=True)
        present = True
    if not present:
        manifest, data, signature = read_manifest(backend, digest, request.trust)
        if (manifest.ecosystem, manifest.environment_key) != (request.ecosystem, request.key):
            raise ManifestError(
                'the pointer for %s key %s names manifest %s, which is a %s cache for key %s: the channel is inconsistent; '
                'publish it again' % (request.ecosystem, request.key, digest, manifest.ecosystem, manifest.environment_key))
        reusable = reusable_copies(request.dest, digest)
        result.update(changed=True, fetched=True)
        if request.check_mode:
            result['would_download_bytes'] = sum(a.size for a in manifest.artifacts if a.sha256 not in reusable)
        else:
            sizes = [artifact.size for artifact in manifest.artifacts] + [len(data)] + ([len(signature)] if signature else [])
            result['pruned'] = clear_leftovers(request.dest)
            stage_directory(request.dest, digest, _filler(backend, manifest, data, signature, reusable, result),
                            lambda actual: 'the fetched manifest reads as digest %s, not %s' % (actual, digest),
                            request.trust, sizes)
            present = True
    if present and request.trust is not None and not request.check_mode:
        remember_pointer(request, pointer)
    if present:
        result['pruned'] += prune_stage(request.dest, request.keep, digest, request.check_mode)
        result['changed'] = result['changed'] or bool(result['pruned'])
    result['requests'] = backend.requests
    return result


def _filler(backend, manifest, data, signature, reusable, result):
    def fill(incoming):
        with open(os.path.join(incoming, MANIFEST_NAME), 'wb') as handle:
            handle.write(data)
        if signature is not None:
            with open(os.path.join(incoming, MANIFEST_NAME + SIGNATURE_SUFFIX), 'wb') as handle:
                handle.write(signature)
        for artifact in manifest.artifacts:
            target = os.path.join(incoming, artifact.filename)
            expected = (artifact.size, artifact.sha256)
            local = reusable.get(artifact.sha256)
            if local and _copy(local, target, artifact.size) == expected:
                result['reused'].append(artifact.filename)
                continue
            name = artifact_object(artifact.sha256)
            actual = backend.download(name, target, artifact.size)
            result['downloaded_bytes'] += actual[0]
            if actual != expected:
                raise VerificationError(
                    '%s (%s) is %d bytes with sha256 %s, the manifest lists %d bytes with sha256 %s: it was altered or '
                    'truncated in the store; nothing was staged. Publish the cache again'
                    % (backend.locate(name), artifact.filename, actual[0], actual[1], artifact.size, artifact.sha256),
                    file=artifact.filename, store_object=backend.locate(name), expected_size=artifact.size,
                    actual_size=actual[0], expected_sha256=artifact.sha256, actual_sha256=actual[1])
            result['downloaded'].append(artifact.filename)
    return fill


def _seen_path(request, create=False):
    """Where the sequence this node followed is kept; None when that directory does not exist (and not create).

    Below the staging directory, so no link is followed on the way (a planted one would choose what is believed).
    """
    directory = os.path.join(request.dest, '.pointers', request.channel)
    if not check_trusted_directory(directory, create=create, private=3, what='the record of followed pointers'):
        return None
    return os.path.join(directory, request.key + '.json')


def _read_seen(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def refuse_replay(request, pointer, origin):
    """With trusted keys, a signed pointer older than one this node already followed is a replay: refuse it."""
    path = _seen_path(request)
    seen = _read_seen(path) if path else None
    if not isinstance(seen, dict):
        return
    older = pointer.sequence < seen.get('sequence', 0)
    forked = pointer.sequence == seen.get('sequence') and pointer.manifest != seen.get('manifest')
    if older or forked:
        raise SignatureError(
            'the pointer %s has sequence %d (manifest %s), and this node already followed sequence %d (manifest %s): '
            'it is a replayed or stale pointer; refusing it. A rollback is published as a new pointer (publish_cache '
            'with manifests), which has a higher sequence' % (origin, pointer.sequence, pointer.manifest,
                                                              seen.get('sequence', 0), seen.get('manifest')),
            file=origin, sequence=pointer.sequence, seen_sequence=seen.get('sequence'))


def remember_pointer(request, pointer):
    path = _seen_path(request, create=True)
    seen = _read_seen(path)
    if isinstance(seen, dict) and seen.get('sequence', 0) >= pointer.sequence:
        return
    atomic_write_bytes(path, json.dumps({'sequence': pointer.sequence, 'manifest': pointer.manifest}).encode('ascii'))


def _copy(source, target, size):
    try:
        with os.fdopen(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), 'rb') as handle:
            return copy_limited(handle, target, size)
    except (IOError, OSError):
        return None


def reusable_copies(root, digest):
    """sha256 -> path of the artifacts that other staged caches under root list (verified again when copied)."""
    found = {}
    for name in staged_names(root):
        cache = os.path.join(root, name)
        if name == digest or not os.path.isfile(os.path.join(cache, MANIFEST_NAME)):
            continue
        try:
            artifacts = load_manifest(cache).artifacts
        except AirgapError:
            continue
        for artifact in artifacts:
            found.setdefault(artifact.sha256, os.path.join(cache, artifact.filename))
    return found
