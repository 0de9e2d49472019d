# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import hashlib
import io
import multiprocessing
import os
import re
import signal
import stat
import subprocess
import sys
import tarfile
import time

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError, LockError, VerificationError
from ansible_collections.airgap.packages.plugins.module_utils._target.fetch_cache import FetchRequest, refuse_replay, remember_pointer
from ansible_collections.airgap.packages.plugins.module_utils._common.fsutil import UnsafePathError, environment_lock, lock_is_held
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact,
    Manifest,
    canonical_json,
    load_manifest,
    verify_artifacts,
)
from ansible_collections.airgap.packages.plugins.module_utils._common.staging import (
    ABANDONED_AFTER,
    VERIFIED_NAME,
    SpaceNeed,
    StagingError,
    check_free_space,
    check_stage,
    clear_leftovers,
    converge_stage,
    extract_contained,
    is_staged,
    prune_stage,
    receive_archive,
    stage_directory,
    stage_is_trusted,
    stale_digests,
    sweep_abandoned_archives,
    take_archive,
)

PAYLOAD = b'wheel bytes'


def cache_members():
    artifact = Artifact('a-1.0-py3-none-any.whl', 'a', '1.0', len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    manifest = Manifest('python', {'key': 'k'}, [], [artifact])
    return manifest.digest, {'manifest.json': canonical_json(manifest.to_dict()), artifact.filename: PAYLOAD}


def archive_of(path, members, symlink=None):
    with tarfile.open(path, 'w:') as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type = tarfile.SYMTYPE
            info.linkname = symlink[1]
            tar.addfile(info)
    return path


def test_a_received_archive_lands_under_its_digest_verified(tmp_path):
    digest, members = cache_members()
    root = str(tmp_path / 'stage')
    path = receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    assert path == os.path.join(root, digest)
    assert is_staged(root, digest)
    assert sorted(os.listdir(root)) == [digest]


def test_an_archive_with_an_altered_artifact_is_refused_and_nothing_stays(tmp_path):
    digest, members = cache_members()
    members['a-1.0-py3-none-any.whl'] = b'wheel bytez'
    root = str(tmp_path / 'stage')
    with pytest.raises(VerificationError, match='sha256'):
        receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    assert os.listdir(root) == []


def test_an_archive_for_another_digest_is_refused(tmp_path):
    _digest, members = cache_members()
    with pytest.raises(VerificationError, match='the controller sent'):
        receive_archive(str(tmp_path / 'stage'), 'f' * 64, archive_of(str(tmp_path / 'c.tar'), members))


def test_a_truncated_archive_is_refused(tmp_path):
    digest, members = cache_members()
    path = archive_of(str(tmp_path / 'c.tar'), members)
    with open(path, 'r+b') as handle:
        handle.truncate(700)
    with pytest.raises(VerificationError):
        receive_archive(str(tmp_path / 'stage'), digest, path)
    assert not is_staged(str(tmp_path / 'stage'), digest)


@pytest.mark.parametrize('name', ['../escape.whl', '/etc/passwd', 'sub/../../escape'])
def test_paths_outside_the_cache_are_refused(tmp_path, name):
    path = archive_of(str(tmp_path / 'evil.tar'), {name: b'x'})
    with pytest.raises(VerificationError, match='outside the cache'):
        extract_contained(path, str(tmp_path / 'out'))


def test_links_are_refused(tmp_path):
    path = archive_of(str(tmp_path / 'evil.tar'), {}, symlink=('manifest.json', '/etc/shadow'))
    with pytest.raises(VerificationError, match='not a regular file'):
        extract_contained(path, str(tmp_path / 'out'))


def test_only_the_newest_digests_are_kept_and_leftovers_go_whatever_their_age(tmp_path):
    root = tmp_path
    names = ['%064x' % index for index in range(4)]
    for age, name in enumerate(reversed(names)):
        (root / name).mkdir()
        os.utime(str(root / name), (time.time() - age * 10, time.time() - age * 10))
    old, fresh = root / '.incoming-old', root / '.incoming-fresh'
    old.mkdir()
    fresh.mkdir()
    os.utime(str(old), (time.time() - 7200, time.time() - 7200))
    # Nobody holds the staging lock: both belong to runs that are gone, the one a second old included.
    assert stale_digests(str(root), 2, current=names[3]) == sorted(names[:2]) + ['.incoming-fresh', '.incoming-old']


# --- the walk to the staging directory ---------------------------------------------------------------------

@pytest.fixture
def root_user():
    """These tests hand files to another owner, which only root can do; the suite runs as root."""
    assert os.geteuid() == 0, 'changing owners needs root: run the unit tests as root (make unit does)'


NOBODY = 65534


def receive_into(tmp_path, root):
    digest, members = cache_members()
    return digest, receive_archive(str(root), digest, archive_of(str(tmp_path / 'c.tar'), members))


def test_a_missing_stage_and_its_missing_parents_are_made_private(tmp_path):
    root = tmp_path / 'a' / 'b' / 'stage'
    digest, path = receive_into(tmp_path, root)
    assert is_staged(str(root), digest)
    assert [stat.S_IMODE(os.stat(str(p)).st_mode) for p in (tmp_path / 'a', tmp_path / 'a' / 'b', root)] == [0o700] * 3


@pytest.mark.parametrize('linked', ['stage', 'stage/python'])
def test_a_link_at_the_staging_directory_is_refused_and_nothing_is_written_through_it(tmp_path, linked):
    victim = tmp_path / 'victim'
    victim.mkdir()
    (tmp_path / linked).parent.mkdir(exist_ok=True)
    os.symlink(str(victim), str(tmp_path / linked))
    with pytest.raises(UnsafePathError, match='%s is a symbolic link' % re.escape(str(tmp_path / linked))):
        receive_into(tmp_path, tmp_path / linked)
    assert os.listdir(str(victim)) == []


@pytest.mark.parametrize('relative', [True, False])
def test_a_link_above_the_staging_directory_owned_by_root_or_this_user_is_followed(tmp_path, relative):
    disk = tmp_path / 'bigdisk'
    disk.mkdir()
    os.symlink('bigdisk' if relative else str(disk), str(tmp_path / 'cache'))
    digest, path = receive_into(tmp_path, tmp_path / 'cache' / 'stage')
    assert os.path.isfile(str(disk / 'stage' / digest / 'manifest.json'))
    assert check_stage(str(tmp_path / 'cache' / 'stage')) is True


def test_a_link_above_is_walked_to_its_target_and_the_target_is_checked_too(tmp_path):
    (tmp_path / 'open' / 'disk').mkdir(parents=True)
    os.chmod(str(tmp_path / 'open'), 0o777)
    (tmp_path / 'safe').mkdir()
    os.symlink('../open/disk', str(tmp_path / 'safe' / 'cache'))
    with pytest.raises(UnsafePathError, match=r'%s, on the way to the staging directory .* is writable by others \(mode 0777\)'
                       % re.escape(str(tmp_path / 'open'))):
        receive_into(tmp_path, tmp_path / 'safe' / 'cache' / 'stage')
    assert os.listdir(str(tmp_path / 'open' / 'disk')) == []


@pytest.mark.usefixtures('root_user')
def test_a_link_above_the_staging_directory_owned_by_another_user_is_refused(tmp_path):
    (tmp_path / 'disk').mkdir()
    os.symlink(str(tmp_path / 'disk'), str(tmp_path / 'cache'))
    os.lchown(str(tmp_path / 'cache'), NOBODY, NOBODY)
    with pytest.raises(UnsafePathError, match='is a symbolic link .* owned by uid %d' % NOBODY):
        receive_into(tmp_path, tmp_path / 'cache' / 'stage')
    assert os.listdir(str(tmp_path / 'disk')) == []


@pytest.mark.parametrize('where', ['stage', 'ancestor'])
@pytest.mark.parametrize('mode, words', [(0o777, 'writable by others (mode 0777)'), (0o775, 'writable by its group (mode 0775)'),
                                         (0o1777, 'writable by others (mode 1777, sticky like /tmp)')])
def test_a_staging_directory_or_ancestor_others_can_write_is_refused(tmp_path, where, mode, words):
    (tmp_path / 'parent' / 'stage').mkdir(parents=True)
    os.chmod(str(tmp_path / where.replace('ancestor', 'parent').replace('stage', 'parent/stage')), mode)
    with pytest.raises(UnsafePathError, match=re.escape(words)):
        receive_into(tmp_path, tmp_path / 'parent' / 'stage')
    assert os.listdir(str(tmp_path / 'parent' / 'stage')) == []


def test_a_staging_directory_under_tmp_is_refused_as_predictable():
    with pytest.raises(UnsafePathError, match='sticky like /tmp.*Give a path outside it'):
        check_stage('/tmp/airgap-unit-never-made/stage')
    assert not os.path.exists('/tmp/airgap-unit-never-made')


@pytest.mark.usefixtures('root_user')
@pytest.mark.parametrize('owned', ['parent', 'parent/stage'])
def test_a_staging_directory_or_ancestor_owned_by_another_user_is_refused(tmp_path, owned):
    (tmp_path / 'parent' / 'stage').mkdir(parents=True)
    os.chown(str(tmp_path / owned), NOBODY, NOBODY)
    with pytest.raises(UnsafePathError, match='%s.* is owned by uid %d' % (re.escape(str(tmp_path / owned)), NOBODY)):
        receive_into(tmp_path, tmp_path / 'parent' / 'stage')


@pytest.mark.parametrize('path, words', [('relative/stage', 'is a relative path: give an absolute path'),
                                         ('/var/cache/../cache/stage', "contains '..'")])
def test_a_relative_or_dotdot_staging_directory_is_refused(path, words):
    with pytest.raises(UnsafePathError, match=re.escape(words)):
        check_stage(path, create=True)


@pytest.mark.parametrize('below', ['', 'stage'])
def test_a_regular_file_on_the_way_is_named_not_a_directory(tmp_path, below):
    (tmp_path / 'file').write_text('data')
    with pytest.raises(UnsafePathError, match='%s.* is not a directory \\(it is a regular file\\)' % re.escape(str(tmp_path / 'file'))):
        check_stage(str(tmp_path / 'file' / below).rstrip('/'), create=True)
    assert (tmp_path / 'file').read_text() == 'data'


def test_a_link_loop_is_refused(tmp_path):
    os.symlink('b', str(tmp_path / 'a'))
    os.symlink('a', str(tmp_path / 'b'))
    with pytest.raises(UnsafePathError, match='more than 40 symbolic links'):
        check_stage(str(tmp_path / 'a' / 'stage'), create=True)


def test_the_read_only_check_creates_nothing(tmp_path):
    assert check_stage(str(tmp_path / 'missing' / 'stage')) is False
    assert not os.path.exists(str(tmp_path / 'missing'))
    assert stage_is_trusted(str(tmp_path)) is True
    os.symlink(str(tmp_path), str(tmp_path / 'link'))
    assert stage_is_trusted(str(tmp_path / 'link')) is False


# --- what lies under the staging directory ------------------------------------------------------------------


def test_a_planted_link_under_the_digest_name_is_refused_clearly_and_its_target_untouched(tmp_path):
    digest, members = cache_members()
    root, target = tmp_path / 'stage', tmp_path / 'planted'
    root.mkdir()
    target.mkdir()
    (target / 'keep-me').write_text('mine')
    os.symlink(str(target), str(root / digest))
    with pytest.raises(StagingError, match='%s is a symbolic link .*Remove the link' % re.escape(str(root / digest))):
        is_staged(str(root), digest)
    with pytest.raises(StagingError, match='is a symbolic link'):
        receive_archive(str(root), digest, archive_of(str(tmp_path / 'c.tar'), members))
    assert os.listdir(str(target)) == ['keep-me'] and os.path.islink(str(root / digest))


def test_a_staged_copy_holding_a_link_is_not_trusted_and_its_replacement_leaves_the_target(tmp_path):
    digest, path = receive_into(tmp_path, tmp_path / 'stage')
    outside = tmp_path / 'outside.whl'
    outside.write_bytes(PAYLOAD)
    artifact = os.path.join(path, 'a-1.0-py3-none-any.whl')
    os.unlink(artifact)
    os.symlink(str(outside), artifact)
    assert not is_staged(str(tmp_path / 'stage'), digest)
    _digest, members = cache_members()
    receive_archive(str(tmp_path / 'stage'), digest, archive_of(str(tmp_path / 'c2.tar'), members))
    assert is_staged(str(tmp_path / 'stage'), digest) and not os.path.islink(artifact)
    assert outside.read_bytes() == PAYLOAD


def test_pruning_removes_a_planted_link_itself_and_reports_it(tmp_path):
    digest, _path = receive_into(tmp_path, tmp_path / 'stage')
    precious = tmp_path / 'precious'
    precious.mkdir()
    (precious / 'keep-me').write_text('mine')
    os.symlink(str(precious), str(tmp_path / 'stage' / ('f' * 64)))
    assert prune_stage(str(tmp_path / 'stage'), 2, digest, check_mode=True) == ['f' * 64]
    assert prune_stage(str(tmp_path / 'stage'), 2, digest) == ['f' * 64]
    assert not os.path.lexists(str(tmp_path / 'stage' / ('f' * 64)))
    assert os.listdir(str(precious)) == ['keep-me']
    assert sorted(os.listdir(str(tmp_path / 'stage'))) == [digest]


def _stage_and_hang(root, ready):
    def fill(incoming):
        with open(os.path.join(incoming, 'half.whl'), 'wb') as handle:
            handle.write(b'half')
        ready.set()
        time.sleep(60)
    stage_directory(root, 'e' * 64, fill, str)


def test_a_leftover_goes_as_soon_as_its_run_is_gone_and_not_before(tmp_path):
    digest, _path = receive_into(tmp_path, tmp_path / 'stage')
    root = str(tmp_path / 'stage')
    ready = multiprocessing.Event()
    run = multiprocessing.Process(target=_stage_and_hang, args=(root, ready))
    run.start()
    try:
        assert ready.wait(10)
        [leftover] = [name for name in os.listdir(root) if name.startswith('.incoming-')]
        assert lock_is_held(root)
        assert stale_digests(root, 2, digest) == [] and clear_leftovers(root) == []
        assert prune_stage(root, 2, digest) == [] and os.path.isdir(os.path.join(root, leftover))
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.join()
    assert not lock_is_held(root)
    assert stale_digests(root, 2, digest) == [leftover]
    assert clear_leftovers(root) == [leftover]
    assert sorted(os.listdir(root)) == [digest]


def test_keep_below_one_is_refused(tmp_path):
    for keep in (0, -1):
        with pytest.raises(AirgapError, match='keep is %d: keep at least the cache being staged' % keep):
            converge_stage(str(tmp_path / 'stage'), 'e' * 64, keep=keep)
    assert not os.path.exists(str(tmp_path / 'stage'))


# --- free space ---------------------------------------------------------------------------------------------


def test_free_space_is_compared_per_filesystem_and_the_needs_on_one_add_up(tmp_path):
    stats = os.statvfs(str(tmp_path))
    available = stats.f_bavail * stats.f_frsize
    half = SpaceNeed('the staging directory %s' % tmp_path, str(tmp_path), [available // 2], 'give another dest')
    check_free_space([half])
    other = SpaceNeed('the remote temp dir %s' % (tmp_path / 'missing' / 'tmp'), str(tmp_path / 'missing' / 'tmp'),
                      [available // 2 + stats.f_frsize], 'move remote_tmp')
    with pytest.raises(StagingError) as refused:
        check_free_space([half, other])
    message = refused.value.msg
    assert message.startswith('not enough free space: the filesystem mounted at ')
    assert 'holding the staging directory %s and the remote temp dir' % tmp_path in message
    assert 'has %d available' % available in message or 'available' in message
    assert 'give another dest, or move remote_tmp' in message
    [filesystem] = refused.value.details['filesystems']
    assert filesystem['required_bytes'] > filesystem['available_bytes']
    assert os.stat(filesystem['mount_point']).st_dev == os.stat(str(tmp_path)).st_dev


def test_staging_more_than_the_filesystem_holds_is_refused_before_anything_is_written(tmp_path):
    digest, members = cache_members()
    stats = os.statvfs(str(tmp_path))
    root = str(tmp_path / 'stage')
    with pytest.raises(StagingError, match='not enough free space'):
        receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members),
                        file_sizes=[stats.f_bavail * stats.f_frsize + 1])
    assert os.listdir(root) == []


# --- the archive the controller sends -----------------------------------------------------------------------


def test_a_taken_archive_has_no_name_left_and_is_still_received(tmp_path):
    digest, members = cache_members()
    path = archive_of(str(tmp_path / 'airgap-ship-x.tar'), members)
    handle = take_archive(path)
    assert not os.path.exists(path)
    with handle:
        receive_archive(str(tmp_path / 'stage'), digest, handle)
    assert is_staged(str(tmp_path / 'stage'), digest)


def test_converge_takes_the_archive_even_when_staging_is_refused(tmp_path):
    digest, members = cache_members()
    path = archive_of(str(tmp_path / 'airgap-ship-x.tar'), members)
    os.symlink(str(tmp_path), str(tmp_path / 'linked'))
    with pytest.raises(UnsafePathError):
        converge_stage(str(tmp_path / 'linked'), digest, archive=path)
    assert not os.path.exists(path)


def test_only_archives_of_dead_runs_are_swept(tmp_path):
    base = tmp_path / 'remote-tmp'
    old = time.time() - ABANDONED_AFTER - 60
    paths = {}
    for name in ('dead', 'stalled', 'fresh', 'foreign'):
        (base / ('ansible-tmp-%s' % name)).mkdir(parents=True)
        filename = 'notours.tar' if name == 'foreign' else 'airgap-ship-0123456789abcdef.tar'
        paths[name] = str(base / ('ansible-tmp-%s' % name) / filename)
        with open(paths[name], 'wb') as handle:
            handle.write(b'partial')
        if name != 'fresh':
            os.utime(paths[name], (old, old))
    # A stalled upload: its writer is alive and holds the file open, though it wrote nothing for a while.
    writer = subprocess.Popen([sys.executable, '-c', 'import sys, time; f = open(sys.argv[1], "ab"); print(1, flush=True); '
                               'time.sleep(60)', paths['stalled']], stdout=subprocess.PIPE)
    try:
        writer.stdout.readline()
        os.utime(paths['stalled'], (old, old))
        own = str(base / 'ansible-tmp-mine')
        os.mkdir(own)
        assert sweep_abandoned_archives(own) == [paths['dead']]
    finally:
        writer.kill()
        writer.wait()
    assert sorted(name for name in paths if os.path.exists(paths[name])) == ['foreign', 'fresh', 'stalled']


# --- fetch_cache's record of the pointers it followed ---------------------------------------------------------


def test_the_pointer_record_is_never_read_or_written_through_a_link(tmp_path):
    root = tmp_path / 'stage'
    root.mkdir()
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    os.symlink(str(elsewhere), str(root / '.pointers'))
    request = FetchRequest('stable', 'python', 'k', str(root))

    class Followed:
        sequence, manifest = 3, 'e' * 64
    with pytest.raises(UnsafePathError, match=r'\.pointers, on the way to the record of followed pointers .* is a symbolic link'):
        remember_pointer(request, Followed())
    with pytest.raises(UnsafePathError, match=r'\.pointers, on the way .* is a symbolic link'):
        refuse_replay(request, Followed(), 'origin')
    assert os.listdir(str(elsewhere)) == []


def test_a_lock_file_planted_as_a_link_is_refused(tmp_path):
    os.symlink(str(tmp_path / 'elsewhere'), str(tmp_path / '.stage.airgap-lock'))
    with pytest.raises(LockError, match='is a symbolic link'):
        with environment_lock(str(tmp_path / 'stage')):
            pass
    assert not os.path.exists(str(tmp_path / 'elsewhere'))


def read_counter(monkeypatch):
    """The paths this run reads to hash, from now on (the run's memo of earlier reads emptied)."""
    from ansible_collections.airgap.packages.plugins.module_utils._common import manifest
    monkeypatch.setattr(manifest, '_HASHED', {})
    reads = []
    real = manifest.sha256_file
    monkeypatch.setattr(manifest, 'sha256_file', lambda path: reads.append(path) or real(path))
    return reads


def test_a_staged_copy_that_verified_is_not_read_again_until_a_file_changes(tmp_path, monkeypatch, change_in_place):
    digest, members = cache_members()
    root = str(tmp_path / 'stage')
    path = receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    assert os.path.isfile(os.path.join(path, VERIFIED_NAME))
    reads = read_counter(monkeypatch)
    assert is_staged(root, digest) and reads == []
    # What the record vouched for counts as read in this run: the install plan that follows reads nothing either.
    assert verify_artifacts(path, load_manifest(path).artifacts) is None and reads == []

    change_in_place(os.path.join(path, 'a-1.0-py3-none-any.whl'))
    reads = read_counter(monkeypatch)
    assert not is_staged(root, digest)
    assert reads == [os.path.join(path, 'a-1.0-py3-none-any.whl')]


@pytest.mark.parametrize('record', [b'not json', b'[]', b'{"digest": "0000", "files": {}}', b'{"files": "x"}'])
def test_a_record_that_does_not_belong_to_the_copy_is_ignored(tmp_path, monkeypatch, record):
    digest, members = cache_members()
    root = str(tmp_path / 'stage')
    path = receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    with open(os.path.join(path, VERIFIED_NAME), 'wb') as handle:
        handle.write(record)
    reads = read_counter(monkeypatch)
    assert is_staged(root, digest) and len(reads) == 1
    with open(os.path.join(path, VERIFIED_NAME), 'rb') as handle:
        assert handle.read() == record  # host_state asks without record=True: it changes nothing


def test_a_copy_without_a_record_gets_one_from_the_modules_that_stage(tmp_path, monkeypatch):
    digest, members = cache_members()
    root = str(tmp_path / 'stage')
    path = receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    os.unlink(os.path.join(path, VERIFIED_NAME))
    assert is_staged(root, digest) and not os.path.exists(os.path.join(path, VERIFIED_NAME))
    # ship_cache's target side finds the copy present and verified in full: it records that.
    converged = converge_stage(root, digest)
    assert converged.present and not converged.received and os.path.isfile(os.path.join(path, VERIFIED_NAME))
    reads = read_counter(monkeypatch)
    assert is_staged(root, digest) and reads == []
    # In check mode nothing is written.
    os.unlink(os.path.join(path, VERIFIED_NAME))
    converge_stage(root, digest, check_mode=True)
    assert not os.path.exists(os.path.join(path, VERIFIED_NAME))


def test_a_record_that_cannot_be_written_leaves_the_copy_staged_and_read_in_full_next_time(tmp_path, monkeypatch):
    from ansible_collections.airgap.packages.plugins.module_utils._common import staging

    def full_disk(path, data, mode=0o644):
        raise AirgapError('no space left on the device holding %s; free space and run again' % os.path.dirname(path))
    monkeypatch.setattr(staging, 'atomic_write_bytes', full_disk)
    digest, members = cache_members()
    root = str(tmp_path / 'stage')
    path = receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    assert sorted(os.listdir(path)) == ['a-1.0-py3-none-any.whl', 'manifest.json']
    reads = read_counter(monkeypatch)
    assert is_staged(root, digest) and len(reads) == 1


def test_a_ctime_in_whole_seconds_is_never_taken_as_proof(tmp_path, monkeypatch):
    # A filesystem that keeps whole seconds would not move a ctime for a write in the second the record was made.
    from ansible_collections.airgap.packages.plugins.module_utils._common import staging
    digest, members = cache_members()
    root = str(tmp_path / 'stage')
    path = receive_archive(root, digest, archive_of(str(tmp_path / 'c.tar'), members))
    real_lstat = os.lstat

    def whole_seconds(target):
        status = real_lstat(target)
        if not target.endswith('.whl'):
            return status
        extra = dict((name, getattr(status, name)) for name in ('st_atime_ns', 'st_mtime_ns', 'st_blksize', 'st_blocks', 'st_rdev'))
        return os.stat_result(tuple(status), dict(extra, st_ctime_ns=status.st_ctime_ns // 10 ** 9 * 10 ** 9))
    monkeypatch.setattr(staging.os, 'lstat', whole_seconds)
    staging.record_verified(path, load_manifest(path))
    reads = read_counter(monkeypatch)
    assert is_staged(root, digest) and len(reads) == 1
