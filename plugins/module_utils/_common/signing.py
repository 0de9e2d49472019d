# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signatures of manifests and store pointers: OpenSSH's ``ssh-keygen -Y sign`` and ``-Y verify``.

OpenSSH signatures (SSHSIG) are used rather than a signing library because every Debian host
already has ssh-keygen with openssh-client, they work with the SSH keys a team already holds,
and trust is an ``allowed_signers`` file, the format OpenSSH and git use. A manifest's signature
sits beside it (``manifest.json.sig``, ``manifests/<digest>.json.sig``); a pointer carries its
signature inside, so that a node can never read a new pointer with an old signature.

Runs on the controller and on targets: standard library and ssh-keygen only.
"""

import os
import re
import shutil
import tempfile

from .errors import AirgapError, VerificationError
from .fsutil import atomic_write_bytes
from .process import Runner

# The SSHSIG namespace: a signature made for this collection is not valid for anything else (git, ssh).
NAMESPACE = 'airgap.packages'
SIGNATURE_SUFFIX = '.sig'
_FINGERPRINT = re.compile(r'(SHA256:[A-Za-z0-9+/=]+)')


class SignatureError(VerificationError):
    """A manifest or pointer is unsigned, signed by a key that is not trusted, or altered since it was signed."""


class Signer:
    """Signs with one private key on the controller."""

    def __init__(self, key, run=None):
        self.key = os.path.abspath(os.path.expanduser(key))
        self._run = run or Runner(dict(os.environ))
        if not os.path.isfile(self.key):
            raise AirgapError('signing_key %s does not exist: give the path of an SSH private key (ssh-keygen -t ed25519 '
                              '-f KEY makes one)' % self.key)
        rc, out, err = self._run(['ssh-keygen', '-l', '-f', self.key])
        if rc != 0:
            raise AirgapError('signing_key %s is not an SSH key ssh-keygen can read (%s): give an unencrypted private key, or load it '
                              'into ssh-agent' % (self.key, err.strip()))
        self.fingerprint = _fingerprint_in(out) or self.key
        self._public = None

    def sign(self, data):
        """The armored signature of data (bytes), as bytes."""
        workdir = tempfile.mkdtemp(prefix='airgap-sign-')
        try:
            path = os.path.join(workdir, 'data')
            with open(path, 'wb') as handle:
                handle.write(data)
            rc, _out, err = self._run(['ssh-keygen', '-q', '-Y', 'sign', '-f', self.key, '-n', NAMESPACE, path])
            if rc != 0:
                raise AirgapError('ssh-keygen could not sign with %s: %s' % (self.key, err.strip()))
            with open(path + SIGNATURE_SUFFIX, 'rb') as handle:
                return handle.read()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def has_signed(self, data, signature):
        """Whether signature is this key's valid signature of data (so that signing again would change nothing)."""
        if not signature:
            return False
        if self._public is None:
            rc, out, err = self._run(['ssh-keygen', '-y', '-f', self.key])
            if rc != 0:
                raise AirgapError('cannot read the public half of %s: %s' % (self.key, err.strip()))
            self._public = ' '.join(out.split()[:2])
        workdir = tempfile.mkdtemp(prefix='airgap-own-key-')
        try:
            path = os.path.join(workdir, 'allowed_signers')
            with open(path, 'w') as handle:
                handle.write('signer %s\n' % self._public)
            Trust(path, self._run).verify(data, signature, 'own')
        except SignatureError:
            return False
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return True


# The key types an allowed_signers line may name (ssh-keygen(1), sshd(8) AUTHORIZED_KEYS FILE FORMAT).
_KEY_TYPES = ('ssh-', 'ecdsa-sha2-', 'sk-ssh-', 'sk-ecdsa-', 'rsa-sha2-')


class Trust:
    """The keys a host accepts: an allowed_signers file (principal, key type, key; one per line)."""

    def __init__(self, allowed_signers, run=None):
        self.allowed_signers = os.path.abspath(os.path.expanduser(allowed_signers))
        self._run = run or Runner(dict(os.environ))
        try:
            with open(self.allowed_signers) as handle:
                entries = [line for line in handle if line.strip() and not line.lstrip().startswith('#')]
        except (IOError, OSError) as exc:
            raise AirgapError('cannot read trusted_keys %s (%s): give the path of an allowed_signers file on this host'
                              % (self.allowed_signers, exc.strerror or exc))
        # ssh-keygen reads this file only when it checks a signature; each line is checked for a key here, so
        # that a wrong file is named when the task starts, not as a refused signature later.
        for number, line in enumerate(entries, 1):
            if not any(field.startswith(_KEY_TYPES) for field in line.split()[1:-1]):
                raise AirgapError('trusted_keys %s: entry %d is not an allowed_signers line ("principal keytype key", '
                                  'see ssh-keygen(1), ALLOWED SIGNERS): %r' % (self.allowed_signers, number, line.strip()[:80]))
        if not entries:
            raise AirgapError('trusted_keys %s lists no key: every signature would be refused. List one '
                              '"principal keytype key" line per trusted key (ssh-keygen(1), ALLOWED SIGNERS)' % self.allowed_signers)

    def verify(self, data, signature, what):
        """Check that signature (bytes, or None when there is none) signs data with a trusted key; returns the principal.

        what names the signed file in errors.
        """
        if not signature:
            raise SignatureError('%s is not signed, and trusted keys are configured (%s): refusing it. Publish or build it '
                                 'again with a signing key' % (what, self.allowed_signers), file=what)
        workdir = tempfile.mkdtemp(prefix='airgap-verify-')
        try:
            signature_path = os.path.join(workdir, 'data' + SIGNATURE_SUFFIX)
            with open(signature_path, 'wb') as handle:
                handle.write(signature)
            rc, out, _err = self._run(['ssh-keygen', '-Y', 'find-principals', '-f', self.allowed_signers, '-s', signature_path])
            principals = [line.strip() for line in out.splitlines() if line.strip()] if rc == 0 else []
            if not principals:
                raise SignatureError('%s is signed by %s, which is not among the trusted keys in %s: refusing it'
                                     % (what, self._untrusted_key(data, signature_path, what), self.allowed_signers),
                                     file=what)
            rc, _out, err = self._run(['ssh-keygen', '-Y', 'verify', '-f', self.allowed_signers, '-I', principals[0],
                                       '-n', NAMESPACE, '-s', signature_path], data=_text(data))
            if rc != 0:
                raise SignatureError('%s does not match its signature by the trusted key %r (%s): it was altered after it was '
                                     'signed; refusing it' % (what, principals[0], err.strip() or 'bad signature'),
                                     file=what, key=principals[0])
            return principals[0]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _untrusted_key(self, data, signature_path, what):
        """Words for the key that made an untrusted signature: its fingerprint when ssh-keygen can tell it."""
        rc, out, err = self._run(['ssh-keygen', '-Y', 'check-novalidate', '-n', NAMESPACE, '-s', signature_path],
                                 data=_text(data))
        fingerprint = _fingerprint_in(out + err)
        if fingerprint:
            return 'key %s' % fingerprint
        if 'parse' in (out + err) or 'armor' in (out + err):
            raise SignatureError('%s has a signature that is not an OpenSSH signature (%s): refusing it'
                                 % (what, (err or out).strip().splitlines()[0]), file=what)
        return 'an unknown key (whose signature does not match the data either)'


def _text(data):
    # What is signed is canonical JSON, ASCII only; the runner feeds stdin as UTF-8 text.
    return data.decode('utf-8')


def _fingerprint_in(text):
    found = _FINGERPRINT.search(text or '')
    return found.group(1) if found else None


# Options of the modules that sign (signing_key) or check signatures (trusted_keys); see the doc fragments.
SIGNING_ARGUMENT_SPEC = dict(signing_key=dict(type='path', no_log=False))
TRUST_ARGUMENT_SPEC = dict(trusted_keys=dict(type='path'))


def signer_from(path):
    return Signer(path) if path else None


def trust_from(path):
    return Trust(path) if path else None


def settle_cache_signatures(caches, signer, trust, check_mode):
    """After wheel_cache or gem_cache: refuse a cache kept as current whose manifest a trusted key did not sign,
    then sign each manifest with signer. Updates each cache entry's changed and signed in place. The caller makes
    signer and trust (signer_from, trust_from) before it builds, so that a bad key fails before any download."""
    from .manifest import load_manifest, manifest_path
    for cache in caches:
        path = manifest_path(cache['path'])
        if not os.path.isfile(path):
            continue  # in check mode, a cache not built yet
        manifest = load_manifest(cache['path'], trust=trust if not cache['changed'] else None)
        if signer is None:
            continue
        data = manifest.canonical_bytes()
        if check_mode:
            cache['signed'] = not signer.has_signed(data, read_signature(path))
        else:
            cache['signed'] = sign_file(path, data, signer)
        cache['changed'] = cache['changed'] or cache['signed']


def sign_file(path, data, signer):
    """Write signer's signature of data beside path (path.sig), or remove a stale one when signer is None.

    Returns whether the signature file changed.
    """
    signature_path = path + SIGNATURE_SUFFIX
    current = read_signature(path)
    if signer is None:
        if current is None:
            return False
        os.unlink(signature_path)
        return True
    if signer.has_signed(data, current):
        return False
    atomic_write_bytes(signature_path, signer.sign(data))
    return True


def read_signature(path):
    """The bytes of the signature file beside path, or None when there is none."""
    try:
        with open(path + SIGNATURE_SUFFIX, 'rb') as handle:
            return handle.read()
    except (IOError, OSError):
        return None
