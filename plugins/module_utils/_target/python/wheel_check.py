# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wheels checked before any installer sees them: what a wheel holds, and that it is what the manifest says.

A matching sha256 proves a wheel is the file the cache was built with, not that the file is a sound
wheel. pip and uv each refuse some malformed wheels, and neither refuses all of them (uv installs a
wheel with a `../` member, dropping the member silently). So every wheel a plan installs is read here
first, member by member: paths stay inside the install directories (no absolute paths, no `..`),
only regular files and directories (no links, no device files), every member is listed in RECORD
with the hash and size it has, and the `.dist-info` directory, METADATA and the file name all name
the project and version the manifest pins. Runs on targets: standard library only.
"""

import base64
import hashlib
import os
import re
import stat
import zipfile
import zlib

from .pep440 import compare_versions
from ..._common.errors import ArtifactRefusal
from ..._common.scripts import interpreter_probe
from ..._common.scripts import wheeltags
from ..._common.scripts.interpreter_probe import normalise_name

SCHEME_KEYS = ('purelib', 'platlib', 'headers', 'scripts', 'data')
# Hashes PEP 427 accepts in RECORD: sha256 or stronger.
STRONG_HASHES = ('sha256', 'sha384', 'sha512', 'sha3_256', 'sha3_384', 'sha3_512', 'blake2b', 'blake2s')
_RECORD_SIGNATURES = ('RECORD.jws', 'RECORD.p7s')
_CHUNK = 1024 * 1024
_UNIX = 3
_KINDS = ((stat.S_IFLNK, 'a symbolic link'), (stat.S_IFCHR, 'a character device'), (stat.S_IFBLK, 'a block device'),
          (stat.S_IFIFO, 'a named pipe'), (stat.S_IFSOCK, 'a socket'))


class WheelContents:
    """What a checked wheel holds: its regular files and sizes, and where an installer puts them."""

    def __init__(self, filename, dist_info, data_dir, root_is_purelib, files):
        self.filename = filename
        self.dist_info = dist_info
        self.data_dir = data_dir
        self.root_is_purelib = root_is_purelib
        self.files = files

    @property
    def size(self):
        return sum(size for _member, size in self.files)

    def installed_bytes(self, block, compile_bytecode):
        """Disk space the installed files take: each rounded up to the block size, a .pyc beside each .py when compiled,
        and one block per directory."""
        total, directories = 0, set()
        for member, size in self.files:
            total += _blocks(size, block)
            if compile_bytecode and member.endswith('.py'):
                total += _blocks(size, block)  # a .pyc is about the size of its source
            directories.update(_parents(member))
        return total + block * len(directories)

    def installed_inodes(self, compile_bytecode):
        directories = set()
        for member, _size in self.files:
            directories.update(_parents(member))
        compiled = sum(1 for member, _size in self.files if compile_bytecode and member.endswith('.py'))
        return len(self.files) + compiled + len(directories)

    def targets(self, scheme):
        """Absolute paths an installer writes the members to; scheme maps purelib, platlib, scripts, data, headers to directories."""
        root = scheme.get('purelib' if self.root_is_purelib else 'platlib')
        paths = []
        for member, _size in self.files:
            if self.data_dir and member.startswith(self.data_dir + '/'):
                _data, key, rest = member.split('/', 2)
                base = scheme.get(key)
            else:
                base, rest = root, member
            if base:
                paths.append(os.path.normpath(os.path.join(base, rest)))
        return paths


def _blocks(size, block):
    return max(1, -(-size // block)) * block


def _parents(member):
    parts = member.split('/')[:-1]
    return ['/'.join(parts[:index]) for index in range(1, len(parts) + 1)]


def same_version(left, right):
    """Equal under PEP 440 (1.0 == 1.0.0); a file name's version spells - as _ (1.0_1 is 1.0-1, 1.0.post1)."""
    return compare_versions(left.replace('_', '-'), right.replace('_', '-')) == 0


def record_digest(handle, algorithm):
    """A RECORD hash value (urlsafe base64, no padding) of what handle reads."""
    digest = hashlib.new(algorithm)
    for chunk in iter(lambda: handle.read(_CHUNK), b''):
        digest.update(chunk)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b'=').decode('ascii')


def file_matches_record(path, value):
    """True when the file at path has the hash a RECORD entry states ('sha256=...'); False for a weak or unknown hash."""
    algorithm, _sep, expected = value.partition('=')
    if algorithm not in STRONG_HASHES or not expected:
        return False
    try:
        with open(path, 'rb') as handle:
            return record_digest(handle, algorithm) == expected
    except (IOError, OSError):
        return False


def archive_kind(path):
    """'zip', or what else the file's first bytes say it is."""
    with open(path, 'rb') as handle:
        head = handle.read(512)
    if head[:4] in (b'PK\x03\x04', b'PK\x05\x06'):
        return 'zip'
    if head[:2] == b'\x1f\x8b':
        return 'a gzip-compressed file (an sdist renamed .whl?)'
    if head[:3] == b'BZh' or head[:6] == b'\xfd7zXZ\x00':
        return 'a compressed file (an sdist renamed .whl?)'
    if head[257:262] == b'ustar':
        return 'a tar archive (an sdist renamed .whl?)'
    return 'not a zip archive'


def member_problem(name, kind_mode=0):
    """Why a member name (or, with its unix mode, its kind) cannot be installed, or None."""
    if '\x00' in name:
        return 'has a NUL byte in its name'
    if '\\' in name:
        return 'has a backslash in its name'
    if name.startswith('/') or re.match(r'^[A-Za-z]:', name):
        return 'is an absolute path'
    parts = (name[:-1] if name.endswith('/') else name).split('/')
    if '..' in parts:
        return 'climbs out of the install directory (..)'
    if '' in parts or '.' in parts:
        return 'is not a normalised path'
    kind = stat.S_IFMT(kind_mode)
    for value, text in _KINDS:
        if kind == value:
            return 'is %s; a wheel holds only files and directories' % text
    return None


def check_wheel(path, name, version):
    """WheelContents of the wheel at path, which must be a sound wheel of project name at version (as the manifest pins);
    VerificationError naming the file and the member otherwise."""
    filename = os.path.basename(path)
    try:
        return _check(path, filename, name, version)
    except ArtifactRefusal as refusal:
        raise refusal.as_error(path, 'wheel', 'rebuild the cache from a trusted index (airgap.packages.wheel_cache)')


def _check(path, filename, name, version):
    try:
        dist, file_version, _build, _tags = wheeltags.parse_wheel_filename(filename)
    except ValueError as exc:
        raise ArtifactRefusal('has no wheel file name (%s)' % exc)
    if normalise_name(dist) != normalise_name(name) or not same_version(file_version, version):
        raise ArtifactRefusal('is named for %s %s, but the manifest pins %s %s' % (dist, file_version, name, version))
    kind = archive_kind(path)
    if kind != 'zip':
        raise ArtifactRefusal('is %s, not a wheel' % kind)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipfile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ArtifactRefusal('is not a readable zip archive (%s)' % exc)
    with archive:
        return _check_members(archive, filename, dist, file_version, name, version)


def _check_members(archive, filename, dist, file_version, name, version):
    members = {}
    for info in archive.infolist():
        mode = (info.external_attr >> 16) & 0xFFFF if info.create_system == _UNIX else 0
        problem = member_problem(info.filename, mode)
        if problem is None and info.flag_bits & 0x1:
            problem = 'is encrypted'
        if problem is None and info.filename in members:
            problem = 'appears twice in the archive'
        if problem:
            raise ArtifactRefusal(problem, info.filename)
        members[info.filename] = info
    tops = set(member.split('/', 1)[0] for member in members)
    dist_infos = sorted(top for top in tops if top.endswith('.dist-info'))
    if not dist_infos:
        raise ArtifactRefusal('holds no .dist-info directory')
    if len(dist_infos) > 1:
        raise ArtifactRefusal('holds several .dist-info directories (%s)' % ', '.join(dist_infos))
    dist_info = dist_infos[0]
    info_name, _sep, info_version = dist_info[:-len('.dist-info')].partition('-')
    if normalise_name(info_name) != normalise_name(name) or not same_version(info_version, version):
        raise ArtifactRefusal('names %s %s, but the file name and the manifest say %s %s' % (info_name, info_version, name, version),
                              dist_info + '/')
    data_dir = None
    for top in sorted(top for top in tops if top.endswith('.data')):
        if top != dist_info[:-len('.dist-info')] + '.data':
            raise ArtifactRefusal('is a .data directory of another distribution than %s' % dist_info, top + '/')
        data_dir = top
    for needed in ('METADATA', 'WHEEL', 'RECORD'):
        if '%s/%s' % (dist_info, needed) not in members:
            raise ArtifactRefusal('is missing', '%s/%s' % (dist_info, needed))
    meta_name, meta_version = interpreter_probe.metadata_headers(_read(archive, '%s/METADATA' % dist_info).splitlines())
    if not meta_name or normalise_name(meta_name) != normalise_name(name) or not meta_version or not same_version(meta_version, version):
        raise ArtifactRefusal('says Name: %s, Version: %s, but the manifest pins %s %s' % (meta_name, meta_version, name, version),
                              '%s/METADATA' % dist_info)
    wheel_text = _read(archive, '%s/WHEEL' % dist_info).decode('utf-8', 'replace')
    wheel_version = re.search(r'^Wheel-Version:\s*(\d+)', wheel_text, re.MULTILINE)
    if not wheel_version or wheel_version.group(1) != '1':
        raise ArtifactRefusal('has no Wheel-Version 1.x', '%s/WHEEL' % dist_info)
    purelib = re.search(r'^Root-Is-Purelib:\s*true\s*$', wheel_text, re.MULTILINE | re.IGNORECASE) is not None
    record = _record(archive, '%s/RECORD' % dist_info, members)
    files = []
    exempt = set('%s/%s' % (dist_info, n) for n in ('RECORD',) + _RECORD_SIGNATURES)
    for member, info in sorted(members.items()):
        if member.endswith('/'):
            continue
        if data_dir and member.startswith(data_dir + '/'):
            parts = member.split('/')
            if len(parts) < 3 or parts[1] not in SCHEME_KEYS:
                raise ArtifactRefusal('is not under one of %s/%s' % (data_dir, '|'.join(SCHEME_KEYS)), member)
        if member not in exempt:
            _check_hash(archive, info, record.get(member))
        files.append((member, info.file_size))
    return WheelContents(filename, dist_info, data_dir, purelib, files)


def _read(archive, member):
    try:
        return archive.read(member)
    except (zipfile.BadZipfile, zlib.error, EOFError, RuntimeError, NotImplementedError, IOError, OSError) as exc:
        raise ArtifactRefusal('cannot be read (%s)' % exc, member)


def _record(archive, member, members):
    try:
        rows = interpreter_probe.parse_record(_read(archive, member).decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactRefusal('is not a valid RECORD (%s)' % exc, member)
    record = {}
    for path, value, size in rows:
        problem = member_problem(path)
        if problem:
            raise ArtifactRefusal('lists %s, which %s' % (path, problem), member)
        if path in record:
            raise ArtifactRefusal('lists %s twice' % path, member)
        if path not in members:
            raise ArtifactRefusal('lists %s, which the wheel does not hold' % path, member)
        record[path] = (value, size)
    return record


def _check_hash(archive, info, entry):
    if entry is None:
        raise ArtifactRefusal('is not listed in RECORD', info.filename)
    value, size = entry
    algorithm, _sep, expected = value.partition('=')
    if algorithm not in STRONG_HASHES or not expected:
        raise ArtifactRefusal('has no sha256 (or stronger) hash in RECORD (%r)' % value, info.filename)
    try:
        with archive.open(info) as handle:
            actual = record_digest(handle, algorithm)
    except (zipfile.BadZipfile, zlib.error, EOFError, RuntimeError, NotImplementedError, IOError, OSError) as exc:
        raise ArtifactRefusal('cannot be read (%s)' % exc, info.filename)
    if actual != expected:
        raise ArtifactRefusal('has %s=%s, but RECORD says %s' % (algorithm, actual, value), info.filename)
    if size and (not size.isdigit() or int(size) != info.file_size):
        raise ArtifactRefusal('is %d bytes, but RECORD says %s' % (info.file_size, size), info.filename)
