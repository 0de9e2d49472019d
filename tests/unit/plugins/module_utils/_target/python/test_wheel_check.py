# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wheels checked member by member before any installer sees them: each hostile or malformed wheel is refused
naming the file and the member."""

import base64
import hashlib
import io
import os
import stat
import tarfile
import zipfile

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target.python import wheel_check
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import VerificationError

NAME, VERSION = 'demo-pkg', '1.0'
FILENAME = 'demo_pkg-1.0-py3-none-any.whl'
INFO = 'demo_pkg-1.0.dist-info'


def digest(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def members(metadata_name=NAME, metadata_version=VERSION, info=INFO):
    return {
        'demo_pkg/__init__.py': b'VALUE = 1\n',
        'demo_pkg/data/table.txt': b'a b c\n' * 100,
        '%s/METADATA' % info: ('Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nDescription\nName: ignored\n'
                               % (metadata_name, metadata_version)).encode(),
        '%s/WHEEL' % info: b'Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    }


def record_of(files, info=INFO, extra_rows=()):
    rows = ['%s,%s,%d' % (m, digest(d), len(d)) for m, d in sorted(files.items())] + list(extra_rows) + ['%s/RECORD,,' % info]
    return ('\n'.join(rows) + '\n').encode()


def write(tmp_path, files, record=True, modes=None, filename=FILENAME, info=INFO, duplicate=None):
    """A wheel from {member: bytes}; record: True for a RECORD of them, bytes for a given one, False for none."""
    files = dict(files)
    if record is True:
        files['%s/RECORD' % info] = record_of(files, info)
    elif record:
        files['%s/RECORD' % info] = record
    path = str(tmp_path / filename)
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        for member, data in sorted(files.items()):
            entry = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
            entry.create_system = 3
            entry.external_attr = ((modes or {}).get(member, stat.S_IFREG | 0o644)) << 16
            archive.writestr(entry, data)
        if duplicate:
            archive.writestr(zipfile.ZipInfo(duplicate), b'second copy')
    return path


def refused(path, name=NAME, version=VERSION):
    with pytest.raises(VerificationError) as caught:
        wheel_check.check_wheel(path, name, version)
    return caught.value


def test_a_sound_wheel_passes_with_its_files_and_where_they_go(tmp_path):
    path = write(tmp_path, members())
    contents = wheel_check.check_wheel(path, NAME, VERSION)
    assert contents.dist_info == INFO and contents.root_is_purelib is True
    assert sorted(m for m, _size in contents.files) == sorted(list(members()) + ['%s/RECORD' % INFO])
    targets = contents.targets({'purelib': '/v/site', 'platlib': '/v/plat', 'scripts': '/v/bin', 'data': '/v'})
    assert '/v/site/demo_pkg/__init__.py' in targets and '/v/site/%s/METADATA' % INFO in targets


def test_data_directory_members_go_to_their_scheme_directory(tmp_path):
    files = members()
    files['demo_pkg-1.0.data/scripts/demo'] = b'#!python\nprint(1)\n'
    files['demo_pkg-1.0.data/data/share/demo.txt'] = b'shared\n'
    contents = wheel_check.check_wheel(write(tmp_path, files), NAME, VERSION)
    targets = contents.targets({'purelib': '/v/site', 'platlib': '/v/site', 'scripts': '/v/bin', 'data': '/v'})
    assert '/v/bin/demo' in targets and '/v/share/demo.txt' in targets


def test_installed_size_rounds_every_file_to_a_block_and_counts_bytecode(tmp_path):
    contents = wheel_check.check_wheel(write(tmp_path, members()), NAME, VERSION)
    files = len(contents.files)
    directories = 3  # demo_pkg, demo_pkg/data, the dist-info
    assert contents.installed_bytes(4096, False) == 4096 * (files + directories)
    assert contents.installed_bytes(4096, True) == 4096 * (files + 1 + directories)  # one .py
    assert contents.installed_inodes(True) == files + 1 + directories


@pytest.mark.parametrize('member, mode, problem', [
    ('../../../../tmp/PWNED', stat.S_IFREG | 0o644, 'climbs out of the install directory'),
    ('demo_pkg/../../escape.py', stat.S_IFREG | 0o644, 'climbs out of the install directory'),
    ('/etc/cron.d/demo', stat.S_IFREG | 0o644, 'is an absolute path'),
    ('C:/Windows/demo.dll', stat.S_IFREG | 0o644, 'is an absolute path'),
    ('demo_pkg\\..\\..\\escape.py', stat.S_IFREG | 0o644, 'has a backslash'),
    ('demo_pkg//twice.py', stat.S_IFREG | 0o644, 'is not a normalised path'),
    ('demo_pkg/link', stat.S_IFLNK | 0o777, 'is a symbolic link'),
    ('demo_pkg/tty', stat.S_IFCHR | 0o600, 'is a character device'),
    ('demo_pkg/disk', stat.S_IFBLK | 0o600, 'is a block device'),
    ('demo_pkg/pipe', stat.S_IFIFO | 0o600, 'is a named pipe'),
    ('demo_pkg/sock', stat.S_IFSOCK | 0o600, 'is a socket'),
])
def test_hostile_members_are_refused_naming_the_file_and_the_member(tmp_path, member, mode, problem):
    files = members()
    files[member] = b'/etc/passwd' if stat.S_ISLNK(mode) else b'x'
    error = refused(write(tmp_path, files, modes={member: mode}))
    assert FILENAME in error.msg and 'member %s %s' % (member, problem) in error.msg, error.msg
    assert error.details['problems'][0]['member'] == member


@pytest.mark.filterwarnings('ignore:Duplicate name')
def test_a_member_that_appears_twice_is_refused(tmp_path):
    error = refused(write(tmp_path, members(), duplicate='demo_pkg/__init__.py'))
    assert 'member demo_pkg/__init__.py appears twice' in error.msg


def test_an_sdist_renamed_whl_is_refused_as_one(tmp_path):
    path = str(tmp_path / FILENAME)
    with tarfile.open(path, 'w:gz') as archive:
        info = tarfile.TarInfo('demo_pkg-1.0/PKG-INFO')
        info.size = 4
        archive.addfile(info, io.BytesIO(b'meta'))
    error = refused(path)
    assert FILENAME in error.msg and 'sdist renamed .whl' in error.msg


def test_a_file_that_is_no_archive_at_all_is_refused(tmp_path):
    path = tmp_path / FILENAME
    path.write_bytes(b'<html>404 Not Found</html>')
    assert 'not a zip archive' in refused(str(path)).msg


def test_a_truncated_zip_is_refused(tmp_path):
    path = write(tmp_path, members())
    with open(path, 'rb') as handle:
        data = handle.read()
    with open(path, 'wb') as handle:
        handle.write(data[:len(data) // 2])
    assert 'not a readable zip archive' in refused(path).msg


@pytest.mark.parametrize('case, expected', [
    ('missing record', 'member %s/RECORD is missing' % INFO),
    ('unlisted member', 'member demo_pkg/extra.py is not listed in RECORD'),
    ('altered member', 'member demo_pkg/__init__.py has sha256='),
    ('wrong size', 'member demo_pkg/__init__.py is 10 bytes, but RECORD says 11'),
    ('absent entry', 'lists demo_pkg/gone.py, which the wheel does not hold'),
    ('weak hash', 'member demo_pkg/__init__.py has no sha256 (or stronger) hash in RECORD'),
    ('escaping entry', 'lists ../outside.py, which climbs out'),
    ('malformed', 'is not a valid RECORD'),
])
def test_record_must_list_every_member_with_its_hash_and_size(tmp_path, case, expected):
    files = members()
    record = True
    if case == 'missing record':
        record = False
    elif case == 'unlisted member':
        record = record_of(files)
        files['demo_pkg/extra.py'] = b'print("not in RECORD")\n'
    elif case == 'altered member':
        record = record_of(files)
        files['demo_pkg/__init__.py'] = b'VALUE = 2\n'
    elif case == 'wrong size':
        record = record_of(files).replace(b'__init__.py,%s,10' % digest(b'VALUE = 1\n').encode(),
                                          b'__init__.py,%s,11' % digest(b'VALUE = 1\n').encode())
    elif case == 'absent entry':
        record = record_of(files, extra_rows=['demo_pkg/gone.py,%s,3' % digest(b'abc')])
    elif case == 'weak hash':
        record = record_of(files).replace(digest(b'VALUE = 1\n').encode(),
                                          b'md5=' + base64.urlsafe_b64encode(hashlib.md5(b'VALUE = 1\n').digest()).rstrip(b'='))
    elif case == 'escaping entry':
        record = record_of(files, extra_rows=['../outside.py,%s,3' % digest(b'abc')])
    elif case == 'malformed':
        record = b'demo_pkg/__init__.py,only-two-fields\n'
    error = refused(write(tmp_path, files, record=record))
    assert FILENAME in error.msg and expected in error.msg, error.msg


def test_dist_info_of_another_project_or_version_is_refused(tmp_path):
    other = 'other_pkg-6.6.dist-info'
    error = refused(write(tmp_path, members(info=other), info=other))
    assert 'member %s/ names other_pkg 6.6' % other in error.msg
    newer = 'demo_pkg-2.0.dist-info'
    error = refused(write(tmp_path, members(info=newer), info=newer))
    assert 'member %s/ names demo_pkg 2.0' % newer in error.msg


def test_metadata_naming_another_project_or_version_is_refused(tmp_path):
    error = refused(write(tmp_path, members(metadata_name='evil')))
    assert 'member %s/METADATA says Name: evil' % INFO in error.msg
    error = refused(write(tmp_path, members(metadata_version='9.9')))
    assert 'Version: 9.9' in error.msg


def test_file_name_must_match_what_the_manifest_pins(tmp_path):
    path = write(tmp_path, members())
    assert 'the manifest pins other 1.0' in refused(path, name='other').msg
    assert 'the manifest pins demo-pkg 1.1' in refused(path, version='1.1').msg
    assert wheel_check.check_wheel(path, 'Demo_Pkg', '1.0.0') is not None  # names and versions compare normalised


def test_several_or_no_dist_info_directories_are_refused(tmp_path):
    files = members()
    files['second-1.0.dist-info/METADATA'] = b'Name: second\n'
    assert 'several .dist-info directories' in refused(write(tmp_path, files)).msg
    files = dict((m, d) for m, d in members().items() if not m.startswith(INFO))
    path = str(tmp_path / 'none.whl')
    with zipfile.ZipFile(path, 'w') as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    os.rename(path, str(tmp_path / FILENAME))
    assert 'holds no .dist-info directory' in refused(str(tmp_path / FILENAME)).msg


def test_data_directory_of_another_distribution_or_scheme_is_refused(tmp_path):
    files = members()
    files['other-1.0.data/scripts/x'] = b'x'
    assert 'member other-1.0.data/ is a .data directory of another distribution' in refused(write(tmp_path, files)).msg
    files = members()
    files['demo_pkg-1.0.data/etc/passwd'] = b'x'
    assert 'member demo_pkg-1.0.data/etc/passwd is not under one of' in refused(write(tmp_path, files)).msg


def test_wheel_file_without_wheel_version_one_is_refused(tmp_path):
    files = members()
    files['%s/WHEEL' % INFO] = b'Wheel-Version: 2.0\n'
    assert 'member %s/WHEEL has no Wheel-Version 1.x' % INFO in refused(write(tmp_path, files)).msg


def test_file_matches_record_accepts_only_strong_hashes(tmp_path):
    path = tmp_path / 'f'
    path.write_bytes(b'content')
    assert wheel_check.file_matches_record(str(path), digest(b'content'))
    assert not wheel_check.file_matches_record(str(path), digest(b'other'))
    weak = 'md5=' + base64.urlsafe_b64encode(hashlib.md5(b'content').digest()).rstrip(b'=').decode()
    assert not wheel_check.file_matches_record(str(path), weak)
