# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gem files checked before gem sees them, where RubyGems itself does not check.

A matching sha256 proves a .gem is the file the cache was built with; RubyGems then refuses
traversing paths and links out of the gem directory, and checks checksums.yaml.gz when it is there.
It does not check that the specification inside is the gem the file name and the manifest say: a
file named like one gem that holds another is installed as that other gem. Nor does it say which
member is wrong in a gem it cannot read. So each .gem a plan installs is read here first: a plain
tar holding metadata.gz and data.tar.gz, a specification whose name, version and platform are the
file name's and the manifest's, and a data.tar.gz of files, directories and links that stay inside
the gem (no absolute paths, no `..`, no device files or hard links). Runs on targets: standard
library only.
"""

import gzip
import os
import posixpath
import re
import tarfile
import zlib

from ..._common.errors import ArtifactRefusal

RUBY_PLATFORM = 'ruby'
# A gemspec in YAML is small; anything far larger is not one.
_MAX_METADATA = 16 * 1024 * 1024
_READ_ERRORS = (tarfile.TarError, zlib.error, EOFError, IOError, OSError, ValueError)


def gem_identity(metadata):
    """(name, version, platform) from a gemspec in YAML, as metadata.gz holds it; None for what it lacks."""
    def top(key):
        match = re.search(r'^%s:[ \t]*(.*?)[ \t]*$' % key, metadata, re.MULTILINE)
        return _unquote(match.group(1)) if match else None
    version = re.search(r'^version:[ \t]*!ruby/object:Gem::Version[ \t]*\n[ \t]+version:[ \t]*(.*?)[ \t]*$', metadata, re.MULTILINE)
    version = _unquote(version.group(1)) if version else top('version')
    return top('name'), version, top('platform') or RUBY_PLATFORM


def _unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
        return value[1:-1]
    return value


def expected_filename(name, version, platform):
    platform = platform or RUBY_PLATFORM
    return '%s-%s%s.gem' % (name, version, '' if platform == RUBY_PLATFORM else '-' + platform)


def member_problem(member):
    """Why a data.tar.gz member cannot be installed, or None (RubyGems refuses some of these too, without naming the gem)."""
    name = member.name
    if name.startswith('/'):
        return 'is an absolute path'
    parts = [part for part in name.split('/') if part not in ('', '.')]
    if '..' in parts:
        return 'climbs out of the gem directory (..)'
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(posixpath.normpath(name)), member.linkname))
        if member.linkname.startswith('/') or target == '..' or target.startswith('../'):
            return 'is a symbolic link out of the gem directory (to %s)' % member.linkname
        return None
    if member.islnk():
        return 'is a hard link'
    if member.ischr() or member.isblk():
        return 'is a device file'
    if member.isfifo():
        return 'is a named pipe'
    if not (member.isfile() or member.isdir()):
        return 'is neither a file, a directory nor a link'
    return None


def check_gem(path, name, version, platform):
    """Raise VerificationError, naming the file and the member, unless path is a gem of name, version and platform
    (as the manifest pins them) whose payload stays inside its gem directory."""
    try:
        _check(path, name, version, platform or RUBY_PLATFORM)
    except ArtifactRefusal as refusal:
        raise refusal.as_error(path, 'gem', 'rebuild the cache from a trusted source (airgap.packages.gem_cache)')


def _check(path, name, version, platform):
    filename = os.path.basename(path)
    if filename != expected_filename(name, version, platform):
        raise ArtifactRefusal('is not named as the manifest pins it (%s)' % expected_filename(name, version, platform))
    with open(path, 'rb') as handle:
        head = handle.read(512)
    if head[:2] == b'\x1f\x8b':
        raise ArtifactRefusal('is a gzip-compressed file, not a gem (a .gem is a plain tar of metadata.gz and data.tar.gz)')
    try:
        archive = tarfile.open(path, 'r:')
    except _READ_ERRORS as exc:
        raise ArtifactRefusal('is not a gem: not a tar archive (%s)' % exc)
    with archive:
        try:
            members = archive.getmembers()
        except _READ_ERRORS as exc:
            raise ArtifactRefusal('is not a readable tar archive (%s)' % exc)
        by_name = {}
        for member in members:
            if member.name in by_name:
                raise ArtifactRefusal('appears twice in the archive', member.name)
            by_name[member.name] = member
        for needed in ('metadata.gz', 'data.tar.gz'):
            if needed not in by_name or not by_name[needed].isfile():
                raise ArtifactRefusal('is not a gem: it holds no %s' % needed)
        metadata = _read_metadata(archive, by_name['metadata.gz'])
        spec_name, spec_version, spec_platform = gem_identity(metadata)
        if (spec_name, spec_version, spec_platform) != (name, version, platform):
            raise ArtifactRefusal('is the specification of %s %s (platform %s), but the file name and the manifest say %s %s (platform %s)'
                                  % (spec_name, spec_version, spec_platform, name, version, platform), 'metadata.gz')
        _check_data(archive, by_name['data.tar.gz'])


def _read_metadata(archive, member):
    try:
        with gzip.GzipFile(fileobj=archive.extractfile(member)) as handle:
            data = handle.read(_MAX_METADATA + 1)
    except _READ_ERRORS as exc:
        raise ArtifactRefusal('cannot be read (%s)' % exc, 'metadata.gz')
    if len(data) > _MAX_METADATA:
        raise ArtifactRefusal('is larger than a specification can be', 'metadata.gz')
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ArtifactRefusal('is not UTF-8 text (%s)' % exc, 'metadata.gz')


def _check_data(archive, member):
    try:
        with tarfile.open(fileobj=archive.extractfile(member), mode='r:gz') as data:
            for entry in data:
                problem = member_problem(entry)
                if problem:
                    raise ArtifactRefusal(problem, 'data.tar.gz:%s' % entry.name)
    except _READ_ERRORS as exc:
        raise ArtifactRefusal('cannot be read (%s)' % exc, 'data.tar.gz')
