# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attacks on the staging side, performed for real on offline hosts: links and loose permissions on the way
to the staging directory, planted links under it, bad options, full filesystems, and runs killed half-way."""

import hashlib
import json
import os
import shlex
import signal
import subprocess
import time

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import Artifact, Manifest, TopLevel, write_manifest
from runner import REPO, RESULTS_CALLBACK, ansible_env, local_tasks, results_document

pytestmark = pytest.mark.integration

BASE = '/var/cache/airgap-hardening'
KEY = 'hardening-test'
# What a killed ansible-playbook leaves of its own on a target lives here (the default remote_tmp of root).
REMOTE_TMP = '/root/.ansible/tmp'
# The collection's target-side code, copied to a host to run a staging of its own there.
HOST_COLLECTION = '/opt/airgap-hardening-collection'


def make_cache(directory, sizes):
    """A wheel cache of random payloads of the given sizes; returns its digest."""
    os.makedirs(directory, exist_ok=True)
    artifacts = []
    for index, size in enumerate(sizes):
        payload = os.urandom(size)
        filename = 'pkg%d-1.0-py3-none-any.whl' % index
        with open(os.path.join(directory, filename), 'wb') as handle:
            handle.write(payload)
        artifacts.append(Artifact(filename, 'pkg%d' % index, '1.0', size, hashlib.sha256(payload).hexdigest(),
                                  platform='py3-none-any'))
    manifest = Manifest('python', {'key': KEY}, [TopLevel('pkg0', 'pkg0', [])], artifacts)
    return write_manifest(directory, manifest)


def ship(fleet_ansible, host, src, dest, keep=2, check=False):
    return fleet_ansible.module(host, 'airgap.packages.ship_cache', {'src': src, 'dest': dest, 'keep': keep}, check=check)[host]


def sh(offline_hosts, host, script, check=True):
    return offline_hosts.run(host, ['sh', '-c', script], check=check)


def listing(offline_hosts, host, path):
    """Everything below path on the host (empty when path is empty or absent)."""
    return sh(offline_hosts, host, 'find %s -mindepth 1 2>/dev/null; true' % shlex.quote(path)).stdout.split()


def remote_archives(offline_hosts, host):
    return sh(offline_hosts, host, 'find %s -name "*.tar" 2>/dev/null; true' % REMOTE_TMP).stdout.split()


def assert_refused(result, *phrases):
    """A failure with a message naming what is wrong, not a crash (ansible-core 2.19 puts an exception key on every
    failure; a crash carries a traceback there)."""
    assert result.get('failed') is True, result
    assert result.get('exception', '(traceback unavailable)') == '(traceback unavailable)', result
    assert 'Traceback' not in result['msg'] and 'MODULE FAILURE' not in result['msg'], result
    for phrase in phrases:
        assert phrase in result['msg'], result['msg']


@pytest.fixture
def host(offline_hosts):
    """The first host, with whatever a test made under BASE and /srv/airgap-hardening-* removed afterwards."""
    name = offline_hosts.names[0]
    yield name
    sh(offline_hosts, name, 'rm -rf %s /srv/airgap-hardening-* /tmp/airgap-hardening-* /root/relative; find %s -name "*.tar" -delete'
       % (BASE, REMOTE_TMP), check=False)


@pytest.fixture
def cache(tmp_path):
    src = str(tmp_path / 'cache')
    return src, make_cache(src, [20000, 3000])


class BackgroundRun:
    """An ad-hoc ansible run in the background, which the test can kill all of, like a crash would."""

    def __init__(self, fleet_ansible, host, module, args, workdir, extra_vars=None):
        argv = ['ansible', host, '-i', fleet_ansible.inventory, '-m', module, '-a', json.dumps(args)]
        for key, value in (extra_vars or {}).items():
            argv += ['-e', json.dumps({key: value})]
        self.out = open(os.path.join(str(workdir), 'background.out'), 'w+')
        env = ansible_env(dict(ANSIBLE_LOAD_CALLBACK_PLUGINS='1', **RESULTS_CALLBACK))
        self.process = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, env=env)

    def kill(self):
        """SIGKILL this run and everything it started, as a crash of the controller would end them all at once
        (ansible's workers leave the process group, so they are found by parentage)."""
        victims = [self.process.pid] + list(self.descendants())
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.out.close()

    def result(self, host, timeout=120):
        self.process.wait(timeout)
        self.out.seek(0)
        document = results_document(self.out.read())
        self.out.close()
        return dict((task['host'], task['result']) for task in document.get('tasks', []))[host]

    def descendants(self):
        """PIDs of every process below this run's ansible process on the controller."""
        parents = {}
        for entry in os.listdir('/proc'):
            if entry.isdigit():
                try:
                    with open('/proc/%s/stat' % entry) as handle:
                        stat = handle.read()
                except OSError:
                    continue
                parents[int(entry)] = (int(stat.rsplit(')', 1)[1].split()[1]), stat.split('(', 1)[1].rsplit(')', 1)[0])
        found, frontier = {}, [self.process.pid]
        while frontier:
            pid = frontier.pop()
            for child, (parent, name) in parents.items():
                if parent == pid and child not in found:
                    found[child] = name
                    frontier.append(child)
        return found


def wait_for(predicate, timeout=60, what='a condition'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError('timed out waiting for %s' % what)


def start_lock_holder(offline_hosts, host, target):
    """A process on the host holding the staging lock of target, as a run in progress does; returns its PID."""
    lock = os.path.join(os.path.dirname(target), '.%s.airgap-lock' % os.path.basename(target))
    script = ('import fcntl, os, time\n'
              'fd = os.open(%r, os.O_RDWR | os.O_CREAT, 0o600)\n'
              'fcntl.flock(fd, fcntl.LOCK_EX)\n'
              'open(%r, "w").close()\n'
              'time.sleep(600)\n') % (lock, lock + '.held')
    pid = sh(offline_hosts, host, 'rm -f %s.held; python3 -c %s </dev/null >/dev/null 2>&1 & echo $!'
             % (shlex.quote(lock), shlex.quote(script))).stdout.strip()
    wait_for(lambda: sh(offline_hosts, host, 'test -e %s.held' % shlex.quote(lock), check=False).returncode == 0,
             what='the lock holder')
    sh(offline_hosts, host, 'rm -f %s.held' % shlex.quote(lock))
    return pid


def stop(offline_hosts, host, pid):
    sh(offline_hosts, host, 'kill -9 %s 2>/dev/null; true' % pid)


# --- links and permissions on the way to the staging directory ---------------------------------------------


@pytest.mark.parametrize('layout', ['dest itself', 'the python directory of a role stage'])
def test_symlinked_stage_root_is_refused_and_nothing_written_through_it(host, offline_hosts, fleet_ansible, cache, layout):
    src, digest = cache
    victim = '/srv/airgap-hardening-victim'
    if layout == 'dest itself':
        dest = BASE + '/linked'
        sh(offline_hosts, host, 'mkdir -p %s %s && ln -s %s %s' % (BASE, victim, victim, dest))
    else:
        dest = BASE + '/stage/python'
        sh(offline_hosts, host, 'mkdir -p %s/stage %s && ln -s %s %s' % (BASE, victim, victim, dest))
    result = ship(fleet_ansible, host, src, dest)
    assert_refused(result, dest, 'symbolic link')
    assert listing(offline_hosts, host, victim) == []
    assert remote_archives(offline_hosts, host) == []


def test_a_root_owned_link_above_the_stage_is_followed_and_what_is_missing_is_made_private(
        host, offline_hosts, fleet_ansible, cache):
    src, digest = cache
    disk = '/srv/airgap-hardening-bigdisk'
    sh(offline_hosts, host, 'mkdir -p %s %s && chmod 0755 %s && ln -s %s %s/bigdisk' % (BASE, disk, disk, disk, BASE))
    result = ship(fleet_ansible, host, src, BASE + '/bigdisk/stage/python')
    assert result.get('failed') is not True, result
    assert result['path'] == '%s/bigdisk/stage/python/%s' % (BASE, digest)
    assert sh(offline_hosts, host, 'test -f %s/stage/python/%s/manifest.json' % (disk, digest), check=False).returncode == 0
    modes = sh(offline_hosts, host, 'stat -c %%a %s/stage %s/stage/python' % (disk, disk)).stdout.split()
    assert modes == ['700', '700']


def test_a_link_above_the_stage_owned_by_another_user_is_refused(host, offline_hosts, fleet_ansible, cache):
    src, _digest = cache
    victim = '/srv/airgap-hardening-victim'
    sh(offline_hosts, host, 'mkdir -p %s %s && ln -s %s %s/elsewhere && chown -h nobody %s/elsewhere'
       % (BASE, victim, victim, BASE, BASE))
    result = ship(fleet_ansible, host, src, BASE + '/elsewhere/python')
    assert_refused(result, BASE + '/elsewhere', 'owned by')
    assert listing(offline_hosts, host, victim) == []


SETUPS = {
    'a stage anyone can write': ('{base}/open', 'mkdir -p {base}/open && chmod 0777 {base}/open'),
    'an ancestor its group can write': ('{base}/group/stage', 'mkdir -p {base}/group && chmod 0775 {base}/group'),
    'an ancestor like /tmp, sticky and world-writable': ('/tmp/airgap-hardening-stage', 'true'),
    'a stage owned by another user': ('{base}/theirs', 'mkdir -p {base}/theirs && chown nobody {base}/theirs'),
    'an ancestor owned by another user': ('{base}/their-parent/stage',
                                          'mkdir -p {base}/their-parent && chown nobody {base}/their-parent'),
}


@pytest.mark.parametrize('case', sorted(SETUPS))
def test_a_stage_that_others_could_change_is_refused_and_nothing_staged(host, offline_hosts, fleet_ansible, cache, case):
    src, digest = cache
    dest, setup = (part.format(base=BASE) for part in SETUPS[case])
    sh(offline_hosts, host, 'mkdir -p %s && chmod 0755 %s && %s' % (BASE, BASE, setup))
    result = ship(fleet_ansible, host, src, dest)
    assert_refused(result, 'owned by' if 'owned' in case else 'writable by')
    assert sh(offline_hosts, host, 'find /var/cache /srv /tmp -name %s 2>/dev/null; true' % digest).stdout.strip() == ''


def test_a_planted_digest_link_is_refused_with_a_clear_error_and_its_target_untouched(
        host, offline_hosts, fleet_ansible, cache):
    src, digest = cache
    dest, planted = BASE + '/stage', '/srv/airgap-hardening-planted'
    sh(offline_hosts, host, 'mkdir -p %s %s && echo mine > %s/keep-me && ln -s %s %s/%s'
       % (dest, planted, planted, planted, dest, digest))
    result = ship(fleet_ansible, host, src, dest)
    assert_refused(result, '%s/%s' % (dest, digest), 'symbolic link', 'Remove the link')
    assert 'rmtree' not in result['msg']
    assert listing(offline_hosts, host, planted) == [planted + '/keep-me']
    assert sh(offline_hosts, host, 'test -L %s/%s' % (dest, digest), check=False).returncode == 0


def test_a_planted_link_under_a_digest_name_is_pruned_as_a_link_and_its_target_kept(
        host, offline_hosts, fleet_ansible, cache):
    src, digest = cache
    dest, precious, fake = BASE + '/stage', '/srv/airgap-hardening-precious', 'f' * 64
    assert ship(fleet_ansible, host, src, dest).get('failed') is not True
    sh(offline_hosts, host, 'mkdir -p %s && echo mine > %s/keep-me && ln -s %s %s/%s' % (precious, precious, precious, dest, fake))
    result = ship(fleet_ansible, host, src, dest)
    assert result.get('failed') is not True, result
    assert result['pruned'] == [fake] and result['changed'] is True
    assert sh(offline_hosts, host, 'test -L %s/%s || test -e %s/%s' % (dest, fake, dest, fake), check=False).returncode != 0
    assert listing(offline_hosts, host, precious) == [precious + '/keep-me']
    files = ['.verified.json', 'manifest.json', 'pkg0-1.0-py3-none-any.whl', 'pkg1-1.0-py3-none-any.whl']
    expected = ['%s/%s' % (dest, digest)] + ['%s/%s/%s' % (dest, digest, name) for name in files]
    assert sorted(listing(offline_hosts, host, dest)) == sorted(expected)


# --- options that make no sense --------------------------------------------------------------------------------


def test_a_relative_dest_is_refused_and_nothing_staged_under_the_home(host, offline_hosts, fleet_ansible, cache):
    src, _digest = cache
    result = ship(fleet_ansible, host, src, 'relative/stage')
    assert_refused(result, 'relative/stage', 'absolute')
    assert sh(offline_hosts, host, 'test -e /root/relative', check=False).returncode != 0


@pytest.mark.parametrize('keep', [0, -1])
def test_keep_below_one_is_refused(host, offline_hosts, fleet_ansible, cache, keep):
    src, digest = cache
    result = ship(fleet_ansible, host, src, BASE + '/stage', keep=keep)
    assert_refused(result, 'keep', str(keep))
    assert listing(offline_hosts, host, BASE + '/stage') == []


@pytest.mark.parametrize('below', ['', '/stage'])
def test_a_dest_that_is_or_goes_through_a_regular_file_is_refused_with_a_clear_error(
        host, offline_hosts, fleet_ansible, cache, below):
    src, _digest = cache
    sh(offline_hosts, host, 'mkdir -p %s && echo data > %s/file' % (BASE, BASE))
    result = ship(fleet_ansible, host, src, BASE + '/file' + below)
    assert_refused(result, BASE + '/file', 'not a directory')
    assert 'Errno' not in result['msg']
    assert sh(offline_hosts, host, 'cat %s/file' % BASE).stdout == 'data\n'


# --- full filesystems ----------------------------------------------------------------------------------------


@pytest.fixture
def small_filesystem(offline_hosts, host):
    """Mount a 1 MiB tmpfs on the host at a path the test names; unmounted afterwards."""
    mounted = []

    def mount(path, mode='0755'):
        sh(offline_hosts, host, 'mkdir -p %s && mount -t tmpfs -o size=1m,mode=%s tmpfs %s' % (path, mode, path))
        mounted.append(path)
        return path
    yield mount
    for path in reversed(mounted):
        sh(offline_hosts, host, 'umount %s' % path, check=False)


def test_a_stage_on_a_full_filesystem_fails_before_anything_is_sent_naming_required_and_available(
        host, offline_hosts, fleet_ansible, tmp_path, small_filesystem):
    src = str(tmp_path / 'big')
    make_cache(src, [1500000])
    small = small_filesystem(BASE + '/small')
    result = ship(fleet_ansible, host, src, small + '/stage')
    assert_refused(result, 'not enough free space', 'mounted at %s' % small, 'staging directory', 'available')
    assert result['transferred_bytes'] == 0
    [filesystem] = [entry for entry in result['filesystems'] if entry['mount_point'] == small]
    assert filesystem['required_bytes'] > 1500000 and filesystem['available_bytes'] <= 1048576
    assert remote_archives(offline_hosts, host) == []
    assert listing(offline_hosts, host, small + '/stage') == []


def test_a_remote_temp_dir_too_small_for_the_archive_fails_before_sending(
        host, offline_hosts, fleet_ansible, tmp_path, small_filesystem):
    src = str(tmp_path / 'big')
    make_cache(src, [1500000])
    small_filesystem(REMOTE_TMP, mode='0700')
    result = ship(fleet_ansible, host, src, BASE + '/stage')
    assert_refused(result, 'not enough free space', 'mounted at %s' % REMOTE_TMP, 'remote temp', 'available')
    assert result['transferred_bytes'] == 0
    assert remote_archives(offline_hosts, host) == []


# --- runs killed half-way ------------------------------------------------------------------------------------


def test_a_run_killed_while_the_target_receives_leaves_no_archive_behind(
        host, offline_hosts, fleet_ansible, cache, tmp_path):
    src, digest = cache
    dest = BASE + '/stage'
    sh(offline_hosts, host, 'mkdir -p %s && chmod 0700 %s' % (dest, dest))
    holder = start_lock_holder(offline_hosts, host, dest)
    try:
        run = BackgroundRun(fleet_ansible, host, 'airgap.packages.ship_cache', {'src': src, 'dest': dest}, tmp_path)

        def receiving():
            # The receiving module waits for the lock; the first (asking) one never does.
            ages = sh(offline_hosts, host, 'ps -eo etimes=,args= | grep "[A]nsiballZ_ship_cache" | cut -c1-12; true').stdout
            return any(int(line.split()[0]) >= 2 for line in ages.splitlines() if line.strip())
        wait_for(receiving, what='the target to receive the archive')
        run.kill()
        time.sleep(1)
        assert remote_archives(offline_hosts, host) == []
    finally:
        stop(offline_hosts, host, holder)
    wait_for(lambda: 'AnsiballZ' not in sh(offline_hosts, host, 'ps -eo args=').stdout, what='the module to end')
    assert [name for name in listing(offline_hosts, host, dest) if '.incoming-' in name] == []
    again = ship(fleet_ansible, host, src, dest)
    assert again.get('failed') is not True and again['path'] == '%s/%s' % (dest, digest), again


def slow_upload_vars(offline_hosts):
    """A bandwidth-limited sftp over its own connection: an upload that lasts long enough to be caught."""
    return {'ansible_sftp_extra_args': '-l 2000',
            'ansible_ssh_common_args': '-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o ControlMaster=no'
                                       % offline_hosts.known_hosts}


def partial_archive(offline_hosts, host):
    found = sh(offline_hosts, host, 'find %s -name "*.tar" -size +0 2>/dev/null; true' % REMOTE_TMP).stdout.split()
    return found[0] if found else None


def test_an_archive_whose_upload_was_killed_is_removed_by_the_next_run(host, offline_hosts, fleet_ansible, tmp_path):
    big, small = str(tmp_path / 'big'), str(tmp_path / 'small')
    make_cache(big, [3000000])
    make_cache(small, [1000])
    run = BackgroundRun(fleet_ansible, host, 'airgap.packages.ship_cache', {'src': big, 'dest': BASE + '/big'}, tmp_path,
                        extra_vars=slow_upload_vars(offline_hosts))
    try:
        archive = wait_for(lambda: partial_archive(offline_hosts, host), what='the upload to start')
    finally:
        run.kill()
    assert remote_archives(offline_hosts, host) == [archive]
    # Ten minutes later nothing writes to it and nothing holds it open: it is the leftover of a dead run.
    sh(offline_hosts, host, 'touch -d "-11 minutes" %s' % archive)
    result = ship(fleet_ansible, host, small, BASE + '/small')
    assert result.get('failed') is not True, result
    assert remote_archives(offline_hosts, host) == []
    assert result['removed_archives'] == [archive]


def test_an_archive_still_being_uploaded_is_left_to_its_run(host, offline_hosts, fleet_ansible, tmp_path):
    big, small = str(tmp_path / 'big'), str(tmp_path / 'small')
    big_digest = make_cache(big, [3000000])
    make_cache(small, [1000])
    run = BackgroundRun(fleet_ansible, host, 'airgap.packages.ship_cache', {'src': big, 'dest': BASE + '/big'}, tmp_path,
                        extra_vars=slow_upload_vars(offline_hosts))
    stopped = []
    try:
        archive = wait_for(lambda: partial_archive(offline_hosts, host), what='the upload to start')
        # A stalled upload: its sftp is stopped, so the file is not written to, but the run is alive.
        stopped = [pid for pid, name in run.descendants().items() if name == 'sftp']
        assert stopped
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        sh(offline_hosts, host, 'touch -d "-11 minutes" %s' % archive)
        other = ship(fleet_ansible, host, small, BASE + '/small')
        assert other.get('failed') is not True, other
        assert other['removed_archives'] == []
        assert archive in remote_archives(offline_hosts, host)
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped = []
        finished = run.result(host)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if run.process.poll() is None:
            run.kill()
    assert finished.get('failed') is not True and finished['path'] == '%s/big/%s' % (BASE, big_digest), finished
    assert remote_archives(offline_hosts, host) == []


def push_collection(offline_hosts, host):
    offline_hosts.push_dir(host, os.path.join(REPO, 'plugins'), HOST_COLLECTION + '/ansible_collections/airgap/packages/plugins')


def start_killable_staging(offline_hosts, host, dest):
    """The collection's own staging code on the host, stopped half-way through filling its unpacking directory."""
    script = ('import sys, time\n'
              'from ansible_collections.airgap.packages.plugins.module_utils._common.staging import stage_directory\n'
              'def fill(incoming):\n'
              '    open(incoming + "/pkg0-1.0-py3-none-any.whl", "wb").write(b"half")\n'
              '    open(%r, "w").close()\n'
              '    time.sleep(600)\n'
              'stage_directory(%r, "e" * 64, fill, str)\n') % (dest + '.filling', dest)
    pid = sh(offline_hosts, host, 'rm -f %s.filling; PYTHONPATH=%s python3 -c %s </dev/null >/dev/null 2>&1 & echo $!'
             % (dest, HOST_COLLECTION, shlex.quote(script))).stdout.strip()
    wait_for(lambda: sh(offline_hosts, host, 'test -e %s.filling' % dest, check=False).returncode == 0,
             what='the staging to start filling')
    sh(offline_hosts, host, 'rm -f %s.filling' % dest)
    return pid


def incoming(offline_hosts, host, dest):
    return sorted(os.path.basename(name) for name in listing(offline_hosts, host, dest)
                  if os.path.dirname(name) == dest and os.path.basename(name).startswith('.incoming-'))


def test_a_leftover_of_a_killed_run_goes_at_the_next_run_and_one_of_a_live_run_stays(
        host, offline_hosts, fleet_ansible, cache):
    src, digest = cache
    dest = BASE + '/stage'
    assert ship(fleet_ansible, host, src, dest).get('failed') is not True
    push_collection(offline_hosts, host)
    staging = start_killable_staging(offline_hosts, host, dest)
    try:
        [live] = incoming(offline_hosts, host, dest)
        # Its run holds the staging lock: nobody may take its directory away.
        assert ship(fleet_ansible, host, src, dest, check=True)['pruned'] == []
    finally:
        stop(offline_hosts, host, staging)
    # The run is gone (killed, like a crash): the lock is free, and the next run removes its leftover at once.
    assert incoming(offline_hosts, host, dest) == [live]
    assert ship(fleet_ansible, host, src, dest, check=True)['pruned'] == [live]
    result = ship(fleet_ansible, host, src, dest)
    assert result.get('failed') is not True and result['pruned'] == [live] and result['changed'] is True, result
    assert incoming(offline_hosts, host, dest) == []
    assert ship(fleet_ansible, host, src, dest)['changed'] is False


# --- fetch_cache stages through the same code ----------------------------------------------------------------


@pytest.fixture
def host_store(offline_hosts, host, ansible, tmp_path):
    """A file:// store on the host holding one published cache; yields (store URL, digest)."""
    src = str(tmp_path / 'cache')
    digest = make_cache(src, [1500000])
    store = str(tmp_path / 'store')
    published = local_tasks(ansible, tmp_path, [{'name': 'publish', 'airgap.packages.publish_cache': {
        'src': [src], 'store': 'file://' + store}}])['publish']
    assert published.get('failed') is not True, published
    offline_hosts.push_dir(host, store, '/srv/airgap-hardening-store')
    return 'file:///srv/airgap-hardening-store', digest


def fetch(fleet_ansible, host, store, dest):
    return fleet_ansible.module(host, 'airgap.packages.fetch_cache',
                                {'store': store, 'ecosystem': 'python', 'key': KEY, 'dest': dest})[host]


def test_fetch_cache_refuses_a_symlinked_dest_and_writes_nothing_through_it(host, offline_hosts, fleet_ansible, host_store):
    store, digest = host_store
    victim = '/srv/airgap-hardening-victim'
    sh(offline_hosts, host, 'mkdir -p %s/stage %s && ln -s %s %s/stage/python' % (BASE, victim, victim, BASE))
    result = fetch(fleet_ansible, host, store, BASE + '/stage/python')
    assert_refused(result, BASE + '/stage/python', 'symbolic link')
    assert listing(offline_hosts, host, victim) == []
    staged = fetch(fleet_ansible, host, store, BASE + '/stage/real')
    assert staged.get('failed') is not True and staged['path'] == '%s/stage/real/%s' % (BASE, digest), staged


def test_fetch_cache_on_a_full_filesystem_names_required_and_available_and_stages_nothing(
        host, offline_hosts, fleet_ansible, host_store, small_filesystem):
    store, _digest = host_store
    small = small_filesystem(BASE + '/small')
    result = fetch(fleet_ansible, host, store, small + '/python')
    assert_refused(result, 'not enough free space', 'mounted at %s' % small, 'available')
    [filesystem] = result['filesystems']
    assert filesystem['mount_point'] == small and filesystem['required_bytes'] > 1500000
    assert filesystem['available_bytes'] <= 1048576
    assert listing(offline_hosts, host, small + '/python') == []
