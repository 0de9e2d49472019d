# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wheel_cache against plain `pip download`, side by side in one run, on the controller.

    .venv/bin/python bench/wheel_cache.py [--reps 5] [--index-url URL]

Both approaches get the same set (REQUIREMENTS below, with compiled wheels) from the same
index (real PyPI by default) for the host running them. One playbook on localhost repeats, per
round: a `ping` task (Ansible's fixed per-task cost), wheel_cache's first build into an empty
dest and its no-op re-run, the same for two foreign platforms at once, then `pip download
--isolated -d DIR` into an empty dir and the same command again (pip re-resolves against the
index each time; its HTTP cache is left on, as users run it). Task wall times come from the
test harness's callback (bench/benchlib.py); figures are medians over the rounds. A second
table times the same work without Ansible (wheel_cache's module_utils called in-process, pip
as a process).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import benchlib
from ansible_collections.airgap.packages.plugins.module_utils._controller.python.wheel_cache import Options, build_caches

REQUIREMENTS = ['requests', 'PyYAML', 'MarkupSafe', 'Jinja2', 'cryptography']
FOREIGN = [{'version': '3.9.18', 'arch': 'aarch64', 'libc': {'flavor': 'glibc', 'version': '2.31'}},
           {'version': '3.13.1', 'arch': 'x86_64', 'libc': {'flavor': 'glibc', 'version': '2.36'}}]


def pip_download(directory, index_url):
    return [sys.executable, '-m', 'pip', 'download', '--isolated', '--disable-pip-version-check', '--quiet',
            '--index-url', index_url, '-d', directory] + REQUIREMENTS


def playbook(work, index_url, reps):
    tasks = []
    for rep in range(reps):
        dest, foreign, directory = ['%s/%s-%d' % (work, kind, rep) for kind in ('dest', 'foreign', 'pipdir')]
        host = {'dest': dest, 'requirements': REQUIREMENTS, 'index_url': index_url}
        two = {'dest': foreign, 'requirements': REQUIREMENTS, 'index_url': index_url, 'platforms': FOREIGN}
        tasks += [
            {'name': 'ping', 'ansible.builtin.ping': {}},
            {'name': 'first build: wheel_cache (this host)', 'airgap.packages.wheel_cache': host},
            {'name': 'no-op: wheel_cache (this host)', 'airgap.packages.wheel_cache': host},
            {'name': 'first build: wheel_cache (2 foreign platforms)', 'airgap.packages.wheel_cache': two},
            {'name': 'no-op: wheel_cache (2 foreign platforms)', 'airgap.packages.wheel_cache': two},
            {'name': 'first download: pip download', 'ansible.builtin.command': {'argv': pip_download(directory, index_url)}},
            {'name': 'again: pip download', 'ansible.builtin.command': {'argv': pip_download(directory, index_url)}},
        ]
    return benchlib.localhost_play(tasks)


def direct_timings(work, index_url, reps):
    """The same work without Ansible: name -> seconds per run."""
    laps = benchlib.Laps()
    for rep in range(reps):
        options = Options(dest='%s/direct-%d' % (work, rep), requirements=REQUIREMENTS, index_url=index_url)
        laps.time('wheel_cache first build', lambda: build_caches(options))
        laps.time('wheel_cache no-op', lambda: build_caches(options))
        argv = pip_download('%s/direct-pip-%d' % (work, rep), index_url)
        for name in ('pip download (first)', 'pip download (again)'):
            laps.time(name, lambda: subprocess.run(argv, check=True, capture_output=True))
    return laps.runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--index-url', default='https://pypi.org/simple/')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='bench-wheel-cache-')
    try:
        tasks = benchlib.run_playbook(playbook(work, args.index_url, args.reps))
        direct = direct_timings(work, args.index_url, args.reps)
        files = len([f for f in os.listdir(os.path.join(work, 'pipdir-0')) if f.endswith('.whl')])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print('Same set for both: %s (%d wheels for this host, compiled ones among them), index %s; %d rounds'
          % (', '.join(REQUIREMENTS), files, args.index_url, args.reps))
    print()
    print('Through Ansible (task wall time, ping = fixed per-task cost):')
    print()
    med = benchlib.print_task_table(tasks)
    noop = med['no-op: wheel_cache (this host)']
    print()
    print('Task wall time, Ansible overhead included (median ping %.3f s is the floor of any task):' % med['ping'])
    print('- wheel_cache no-op %.3f s = %.2fx its first build (%.3f s)'
          % (noop, noop / med['first build: wheel_cache (this host)'], med['first build: wheel_cache (this host)']))
    print('- wheel_cache no-op = %.2fx re-running pip download (%.3f s); minus the ping floor: %.2fx'
          % (noop / med['again: pip download'], med['again: pip download'],
             (noop - med['ping']) / (med['again: pip download'] - med['ping'])))
    print('- 2 foreign platforms: first build %.3f s, no-op %.3f s'
          % (med['first build: wheel_cache (2 foreign platforms)'], med['no-op: wheel_cache (2 foreign platforms)']))
    print()
    print('Without Ansible (%d runs each):' % args.reps)
    print()
    benchlib.print_runs_table('work', direct, unit='ms')
    direct_med = benchlib.medians(direct)
    print()
    print('- wheel_cache no-op = %.3fx its first build, %.3fx pip download again (target <= 0.1x)'
          % (direct_med['wheel_cache no-op'] / direct_med['wheel_cache first build'],
             direct_med['wheel_cache no-op'] / direct_med['pip download (again)']))


if __name__ == '__main__':
    main()
