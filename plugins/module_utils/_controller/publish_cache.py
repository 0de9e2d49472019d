# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publish built caches into a store: artifacts by sha256, manifests by digest, then the pointers.

The order is what makes an interrupted publish harmless: a pointer moves only after every
artifact and the manifest it names are in the store, and the channel index (which only words
error messages) moves last. An object already stored under its content address is never
uploaded again, so a re-publish of unchanged caches uploads nothing. Runs on the controller:
standard library only (boto3 for s3:// stores).
"""

import glob
import os

from .._common.errors import AirgapError
from .._common.manifest import (
    ECOSYSTEMS, MANIFEST_NAME, load_manifest, verify_artifacts,
)
from .._common.signing import SIGNATURE_SUFFIX
from .._common.store import (
    Pointer, artifact_object, check_name, index_bytes, index_object, manifest_object, pointer_object, read_index,
    read_manifest, read_optional, read_pointer, utc_now,
)


class PublishRequest:
    def __init__(self, channel, src=(), manifests=(), check_mode=False, signer=None):
        self.channel = channel
        self.src = list(src)
        self.manifests = list(manifests)
        self.check_mode = check_mode
        self.signer = signer  # a signing.Signer, or None to publish unsigned


def cache_directories(paths):
    """Each path is a cache directory (it holds manifest.json), or a cache root holding <ecosystem>/<key>/ caches."""
    found = []
    for path in paths:
        path = os.path.abspath(os.path.expanduser(path))
        if os.path.isfile(os.path.join(path, MANIFEST_NAME)):
            found.append(path)
            continue
        below = sorted(os.path.dirname(manifest) for ecosystem in ECOSYSTEMS
                       for manifest in glob.glob(os.path.join(path, ecosystem, '*', MANIFEST_NAME)))
        if not below:
            raise AirgapError('%s holds no cache: give a cache directory (with manifest.json) or a cache root with '
                              'python/<key>/ or ruby/<key>/ caches, as wheel_cache and gem_cache write them' % path)
        found.extend(below)
    return found


def publish_caches(backend, request):
    """Put the caches of request.src and the stored manifests of request.manifests behind the channel's pointers."""
    check_name('channel', request.channel)
    if not request.src and not request.manifests:
        raise AirgapError('nothing to publish: give src (cache directories) or manifests (digests the store holds)')
    result = dict(changed=False, store=backend.url, channel=request.channel, uploaded=[], uploaded_bytes=0,
                  reused_artifacts=0, manifests=[], signed=[], pointers=[])
    signer = request.signer
    targets = []  # (manifest, its cache directory, or None for a manifest the store holds already)
    for cache in cache_directories(request.src):
        manifest = load_manifest(cache)
        # A cache altered on this side is never published: the store would serve it with a valid digest.
        verify_artifacts(cache, manifest.artifacts)
        targets.append((manifest, cache))
    for digest in request.manifests:
        targets.append((read_manifest(backend, digest)[0], None))
    chosen = {}
    for manifest, cache in targets:
        check_name('key', manifest.environment_key)
        slot = (manifest.ecosystem, manifest.environment_key)
        if slot in chosen and chosen[slot][0].digest != manifest.digest:
            raise AirgapError('two caches for %s key %s were given (manifests %s and %s): a channel points each key at one '
                              'cache; publish them to different channels' % (slot + (chosen[slot][0].digest, manifest.digest)))
        chosen[slot] = (manifest, cache)

    uploaded = set()
    for manifest, cache in chosen.values():
        for artifact in manifest.artifacts:
            if artifact.sha256 in uploaded:
                continue
            uploaded.add(artifact.sha256)
            name = artifact_object(artifact.sha256)
            if backend.exists(name):
                result['reused_artifacts'] += 1
                continue
            if cache is None:
                raise AirgapError('the stored manifest %s lists %s (sha256 %s), which the store %s does not hold: publish '
                                  'the cache directory itself instead' % (manifest.digest, artifact.filename,
                                                                          artifact.sha256, backend.url))
            if not request.check_mode:
                backend.upload(name, os.path.join(cache, artifact.filename))
            result['uploaded'].append({'file': artifact.filename, 'sha256': artifact.sha256, 'size': artifact.size})
            result['uploaded_bytes'] += artifact.size
        name = manifest_object(manifest.digest)
        if cache is not None and not backend.exists(name):
            if not request.check_mode:
                backend.write(name, manifest.canonical_bytes())
            result['manifests'].append(manifest.digest)
        # The signature is in the store before any pointer names the manifest.
        if signer is not None and not signer.has_signed(manifest.canonical_bytes(),
                                                        read_optional(backend, name + SIGNATURE_SUFFIX)):
            if not request.check_mode:
                backend.write(name + SIGNATURE_SUFFIX, signer.sign(manifest.canonical_bytes()))
            result['signed'].append(manifest.digest)

    moved = False
    for (ecosystem, key), (manifest, _cache) in sorted(chosen.items()):
        current = read_pointer(backend, request.channel, ecosystem, key)
        resign = signer is not None and current is not None and not signer.has_signed(current.payload(), current.signature)
        entry = dict(ecosystem=ecosystem, key=key, digest=manifest.digest, previous=current.manifest if current else None,
                     changed=current is None or current.manifest != manifest.digest or resign)
        if entry['changed']:
            pointer = (current.moved_to(manifest.digest) if current
                       else Pointer(request.channel, ecosystem, key, manifest.digest, published=utc_now()))
            if not request.check_mode:
                backend.write(pointer_object(request.channel, ecosystem, key), pointer.signed(signer).to_bytes())
            entry['sequence'] = pointer.sequence
            moved = True
        else:
            entry['sequence'] = current.sequence
        result['pointers'].append(entry)

    stored = read_index(backend, request.channel)
    index = dict((ecosystem, dict(keys)) for ecosystem, keys in stored.items())
    for entry in result['pointers']:
        index[entry['ecosystem']][entry['key']] = entry['digest']
    if index != stored:
        if not request.check_mode:
            backend.write(index_object(request.channel), index_bytes(request.channel, index))
        moved = True
    result['changed'] = bool(result['uploaded'] or result['manifests'] or result['signed'] or moved)
    result['requests'] = backend.requests
    return result
