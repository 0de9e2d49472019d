# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staged caches on a target: one directory per manifest digest, received as one archive.

An archive is unpacked into a private directory, checked against the digest the controller
expects and every artifact's size and sha256, and only then renamed into place; a directory
named by a digest is therefore always complete. Runs on targets: standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tarfile
import time

from ansible_collections.airgap.packages.plugins.module_utils.errors import AirgapError, VerificationError
from ansible_collections.airgap.packages.plugins.module_utils.fsutil import environment_lock, private_tempdir
from ansible_collections.airgap.packages.plugins.module_utils.manifest import MANIFEST_NAME, load_manifest, verify_artifacts

_DIGEST = re.compile(r'^[0-9a-f]{64}$')
# ship_cache's staging root on the target unless told otherwise (module and action plugin alike).
DEFAULT_STAGE = '/var/cache/airgap-packages'
_INCOMING_PREFIX = '.incoming-'
# An unpacking directory this old belongs to a run that died, not to one in progress.
_LEFTOVER_AGE = 3600


def is_staged_name(name):
    """Whether name is a manifest digest, the name of a staged cache directory."""
    return bool(_DIGEST.match(name))


def staged_path(root, digest):
    if not _DIGEST.match(digest or ''):
        raise AirgapError('%r is not a manifest digest (64 lowercase hex digits)' % digest)
    return os.path.join(root, digest)


def is_staged(root, digest, trust=None):
    """True when root/digest holds a cache whose manifest has that digest (signed by a trusted key, with trust)
    and whose artifacts verify."""
    path = staged_path(root, digest)
    if not os.path.isfile(os.path.join(path, MANIFEST_NAME)):
        return False
    try:
        manifest = load_manifest(path, trust)
        if manifest.digest != digest:
            return False
        verify_artifacts(path, manifest.artifacts)
    except AirgapError:
        return False
    return True


def stage_directory(root, digest, fill, mismatch, trust=None):
    """Let fill(directory) put a cache into a private directory under root, verify it, rename it to root/digest.

    All or nothing: the directory named by the digest appears only once its manifest has that
    digest and every artifact's size and sha256 match; whatever fill leaves on failure goes.
    mismatch(actual_digest) words the error for a manifest that is not the expected one; with trust, the
    manifest must also be signed by a trusted key.
    """
    final = staged_path(root, digest)
    if not os.path.isdir(root):
        os.makedirs(root, 0o755)
    # One lock per staging root (it sits beside the root): staging and pruning never overlap.
    with environment_lock(root):
        incoming = private_tempdir(root, _INCOMING_PREFIX)
        try:
            fill(incoming)
            manifest = load_manifest(incoming, trust)
            if manifest.digest != digest:
                raise VerificationError(mismatch(manifest.digest))
            verify_artifacts(incoming, manifest.artifacts)
            os.chmod(incoming, 0o755)
            if os.path.lexists(final):
                shutil.rmtree(final)
            os.rename(incoming, final)
        finally:
            if os.path.isdir(incoming):
                shutil.rmtree(incoming)
    return final


def receive_archive(root, digest, archive, trust=None):
    """Unpack archive into root/digest after checking it: all or nothing."""
    def fill(incoming):
        try:
            extract_contained(archive, incoming)
        except (tarfile.TarError, EOFError) as exc:
            raise VerificationError('the cache archive %s is incomplete or corrupt (%s); run again to ship it anew'
                                    % (archive, exc))

    def mismatch(actual):
        return ('the received cache has manifest digest %s, the controller sent %s: the transfer was altered or '
                'the cache changed on the controller while shipping; run again' % (actual, digest))
    return stage_directory(root, digest, fill, mismatch, trust)


def extract_contained(archive, dest):
    """Extract regular files and directories only, refusing anything that would land outside dest."""
    dest = os.path.realpath(dest)
    with tarfile.open(archive, 'r:') as tar:
        members = tar.getmembers()
        for member in members:
            target = os.path.realpath(os.path.join(dest, member.name))
            if os.path.isabs(member.name) or '..' in member.name.split('/') or not target.startswith(dest + os.sep):
                raise VerificationError('the cache archive %s holds %r, a path outside the cache; refusing it'
                                        % (archive, member.name))
            if not (member.isfile() or member.isdir()):
                raise VerificationError('the cache archive %s holds %r, which is not a regular file; refusing it'
                                        % (archive, member.name))
        for member in members:
            target = os.path.join(dest, member.name)
            if member.isdir():
                if not os.path.isdir(target):
                    os.makedirs(target, 0o755)
                continue
            parent = os.path.dirname(target)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            source = tar.extractfile(member)
            with open(target, 'wb') as handle:
                shutil.copyfileobj(source, handle)
            os.chmod(target, 0o644)


def stale_digests(root, keep, current):
    """Staged digests beyond the newest keep (current always kept), and leftovers of interrupted transfers."""
    if not os.path.isdir(root):
        return []
    entries = [name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name))]
    cutoff = time.time() - _LEFTOVER_AGE
    leftovers = [name for name in entries
                 if name.startswith(_INCOMING_PREFIX) and os.path.getmtime(os.path.join(root, name)) < cutoff]
    staged = [name for name in entries if is_staged_name(name) and name != current]
    staged.sort(key=lambda name: os.path.getmtime(os.path.join(root, name)), reverse=True)
    return sorted(staged[max(keep - 1, 0):]) + sorted(leftovers)


def converge_stage(root, digest, archive=None, keep=2, check_mode=False, trust=None):
    """Make root/digest hold the verified cache (from archive when it does not yet), then prune.

    Returns (present, received, pruned). Older caches go only once this one is in place, so a
    failed ship leaves the host what it had.
    """
    present = is_staged(root, digest, trust)
    received = False
    if not present and archive and not check_mode:
        receive_archive(root, digest, archive, trust)
        present = received = True
    pruned = prune_stage(root, keep, digest, check_mode) if present else []
    return present, received, pruned


def prune_stage(root, keep, current, check_mode=False):
    """Remove what stale_digests names (in check mode, only name it); returns the names."""
    pruned = stale_digests(root, keep, current)
    if pruned and not check_mode:
        with environment_lock(root):
            for name in pruned:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    return pruned
