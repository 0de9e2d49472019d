# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Root filesystems of other Debian releases, for test hosts of another platform.

`debian_root(suite)` returns a directory that HostFleet.start(lower=...) can use as the overlay
lower layer: a debootstrap (minbase) of that release with what the role needs on a target. The
machine's own release is `/`. Roots are cached outside the checkout, keyed by a recipe stamp, and
rebuilt when missing or when the recipe changes. A build runs in a temporary directory beside the
cache and is renamed into place only when complete, under a lock, so that an interrupted build is
never used and parallel callers build once.

    python3 tests/harness/rootfs.py bullseye trixie     # build (or find) and print the roots
"""

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CACHE_ROOT = os.environ.get('AIRGAP_ROOTFS_CACHE', '/var/cache/airgap-packages-test/rootfs')
STAMP = '.airgap-rootfs.json'
# What a target of the role needs: an interpreter for Ansible, venv + ensurepip for pip_offline,
# Ruby for gem_offline, and a compiler, headers and make for gems with C extensions and for the
# wheels a builder host builds from sdists.
PACKAGES = ('python3', 'python3-venv', 'python3-dev', 'ruby', 'ruby-dev', 'gcc', 'make', 'libc6-dev', 'openssh-server')
# Releases that debootstrap of this machine knows and the mirror serves (release notes: versions).
SUITES = ('bullseye', 'bookworm', 'trixie')
KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'
BUILD_TIMEOUT = 1800


class RootfsError(RuntimeError):
    pass


def machine_suite():
    """The codename of the release this machine runs (VERSION_CODENAME of os-release)."""
    with open('/etc/os-release') as handle:
        for line in handle:
            key, _sep, value = line.strip().partition('=')
            if key == 'VERSION_CODENAME':
                return value.strip('"')
    return None


def debian_mirror():
    """The Debian mirror URI of this machine's apt sources (AIRGAP_DEBIAN_MIRROR overrides it)."""
    if os.environ.get('AIRGAP_DEBIAN_MIRROR'):
        return os.environ['AIRGAP_DEBIAN_MIRROR']
    uris = []
    for path in _apt_source_files():
        with open(path) as handle:
            text = handle.read()
        if path.endswith('.sources'):
            uris += [uri for line in text.splitlines() if line.startswith('URIs:') for uri in line.split()[1:]]
        else:
            uris += [fields[1] for fields in (line.split() for line in text.splitlines())
                     if len(fields) >= 3 and fields[0] == 'deb' and not fields[1].startswith('[')]
    for uri in uris:
        if re.match(r'^https?://.*/debian/?$', uri):
            return uri.rstrip('/')
    raise RootfsError('no Debian mirror (a URI ending in /debian) in the apt sources; set AIRGAP_DEBIAN_MIRROR')


def _apt_source_files():
    files = ['/etc/apt/sources.list'] if os.path.isfile('/etc/apt/sources.list') else []
    directory = '/etc/apt/sources.list.d'
    if os.path.isdir(directory):
        files += [os.path.join(directory, name) for name in sorted(os.listdir(directory))
                  if name.endswith(('.list', '.sources'))]
    return files


def recipe(suite, mirror):
    """What defines a root: a different recipe means a rebuild."""
    return {'suite': suite, 'variant': 'minbase', 'packages': sorted(PACKAGES), 'mirror': mirror, 'version': 1}


def debian_root(suite, cache_root=CACHE_ROOT, log=None):
    """Path of a root filesystem of Debian `suite`: `/` for this machine's release, else a cached debootstrap."""
    if suite not in SUITES:
        raise RootfsError('unknown suite %r: expected one of %s' % (suite, ', '.join(SUITES)))
    if suite == machine_suite():
        return '/'
    target = os.path.join(cache_root, suite)
    wanted = recipe(suite, debian_mirror())
    if _stamp(target) == wanted:
        return target
    os.makedirs(cache_root, mode=0o755, exist_ok=True)
    with open(os.path.join(cache_root, '.%s.lock' % suite), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Another caller may have built it while this one waited for the lock.
        if _stamp(target) == wanted:
            return target
        _remove_stale_builds(cache_root, suite)
        build = tempfile.mkdtemp(prefix='.%s-build-' % suite, dir=cache_root)
        try:
            _debootstrap(suite, build, wanted['mirror'], log)
            _finish(build)
            _write_stamp(build, wanted)
            _replace(build, target)
        except BaseException:
            _remove_tree(build)
            raise
    return target


def _stamp(root):
    try:
        with open(os.path.join(root, STAMP)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write_stamp(root, wanted):
    with open(os.path.join(root, STAMP), 'w') as handle:
        json.dump(wanted, handle, indent=1, sort_keys=True)


def _debootstrap(suite, directory, mirror, log):
    debootstrap = shutil.which('debootstrap', path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')
    if not debootstrap:
        raise RootfsError('debootstrap not found: apt-get install debootstrap')
    argv = [debootstrap, '--variant=minbase', '--include=%s' % ','.join(PACKAGES), '--keyring=%s' % KEYRING,
            suite, directory, mirror]
    started = time.time()
    if log:
        log('debootstrap %s into %s from %s' % (suite, directory, mirror))
    completed = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT,
                               env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'})
    _unmount_under(directory)
    if completed.returncode != 0:
        debootstrap_log = os.path.join(directory, 'debootstrap', 'debootstrap.log')
        tail = ''
        if os.path.exists(debootstrap_log):
            with open(debootstrap_log, errors='replace') as handle:
                tail = ''.join(handle.readlines()[-30:])
        raise RootfsError('debootstrap of %s failed (%d): %s\n%s' % (
            suite, completed.returncode, completed.stderr.strip()[-2000:], tail))
    if log:
        log('debootstrap %s took %.0f s' % (suite, time.time() - started))


def _finish(root):
    """Drop the downloaded packages: the root only needs to be run, never upgraded."""
    archives = os.path.join(root, 'var', 'cache', 'apt', 'archives')
    for name in os.listdir(archives) if os.path.isdir(archives) else ():
        if name.endswith('.deb'):
            os.unlink(os.path.join(archives, name))


def _replace(build, target):
    """Rename the finished build into place; an older root is moved aside first, then removed."""
    os.chmod(build, 0o755)
    if not os.path.lexists(target):
        os.rename(build, target)
        return
    old = tempfile.mkdtemp(prefix='.%s-old-' % os.path.basename(target), dir=os.path.dirname(target))
    os.rename(target, os.path.join(old, 'root'))
    os.rename(build, target)
    _remove_tree(old)


def _remove_stale_builds(cache_root, suite):
    for name in os.listdir(cache_root):
        if name.startswith(('.%s-build-' % suite, '.%s-old-' % suite)):
            _remove_tree(os.path.join(cache_root, name))


def _unmount_under(directory):
    """Unmount what an interrupted debootstrap may have left mounted (proc, sys, dev) inside directory."""
    prefix = os.path.realpath(directory) + '/'
    with open('/proc/self/mountinfo') as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(['umount', '--lazy', point], capture_output=True, check=False)


def _remove_tree(path):
    _unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)


def root_summary(root):
    """Versions a root provides: python, ruby, glibc (for logs and benchmarks)."""
    def read(argv):
        cmd = ['chroot', root] + argv if root != '/' else argv
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return done.stdout.strip() or done.stderr.strip()
    return {
        'python': read(['python3', '-c', 'import platform; print(platform.python_version())']),
        'ruby': read(['ruby', '-e', 'print RUBY_VERSION']),
        'glibc': read(['python3', '-c', 'import os; print(os.confstr("CS_GNU_LIBC_VERSION"))']),
    }


def main(argv=None):
    suites = (argv if argv is not None else sys.argv[1:]) or [s for s in SUITES if s != machine_suite()]
    for suite in suites:
        started = time.time()
        root = debian_root(suite, log=lambda msg: print(msg, file=sys.stderr))
        summary = json.dumps(root_summary(root), sort_keys=True)
        print('%s %s %s (%.0f s)' % (suite, root, summary, time.time() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())
