# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wheel_cache against plain `pip download`, side by side in one run, on the controller.

    .venv/bin/python bench/wheel_cache.py [--reps 5] [--index-url URL]

Both approaches get the same set (REQUIREMENTS below, with compiled wheels) from the same
index (real PyPI by default) for the host running them. One playbook on localhost repeats, per
round: a `ping` task (Ansible's fixed per-task cost), wheel_cache's first build into an empty
dest and its no-op re-run, the same for two foreign platforms at once, then `pip download
--isolated -d DIR` into an empty dir and the same command again (pip re-resolves against the
index each time; its HTTP cache is left on, as users run it). Task wall times come from
bench/callback/bench_timer.py; figures are medians over the rounds. A second table times the
same work without Ansible (wheel_cache's module_utils called in-process, pip as a process).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path[:0] = [os.path.join(REPO, 'tests', 'harness')]

from runner import ansible_env, collections_root  # noqa: E402

sys.path.insert(0, collections_root())

from ansible_collections.airgap.packages.plugins.module_utils.wheelhouse import Options, build_caches  # noqa: E402

REQUIREMENTS = ['requests', 'PyYAML', 'MarkupSafe', 'Jinja2', 'cryptography']
FOREIGN = [{'version': '3.9', 'arch': 'aarch64', 'libc': {'flavor': 'glibc', 'version': '2.31'}},
           {'version': '3.13', 'arch': 'x86_64', 'libc': {'flavor': 'glibc', 'version': '2.36'}}]


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
    return [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
             'vars': {'ansible_python_interpreter': sys.executable}, 'tasks': tasks}]


def run_playbook(book):
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        json.dump(book, handle)
    env = ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'bench_timer', 'ANSIBLE_CALLBACK_PLUGINS': os.path.join(BENCH, 'callback')})
    done = subprocess.run(['ansible-playbook', '-i', 'localhost,', handle.name], capture_output=True, text=True, env=env,
                          check=False)
    os.unlink(handle.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"tasks"')]
    if done.returncode != 0 or not lines:
        raise SystemExit('playbook failed (%d): %s %s' % (done.returncode, done.stdout[-4000:], done.stderr[-4000:]))
    return json.loads(lines[-1])['tasks']


def direct_timings(work, index_url, reps):
    """The same work without Ansible: seconds per run."""
    out = dict((name, []) for name in ('wheel_cache first build', 'wheel_cache no-op', 'pip download (first)',
                                       'pip download (again)'))

    def timed(name, action):
        start = time.monotonic()
        action()
        out[name].append(time.monotonic() - start)

    for rep in range(reps):
        options = Options(dest='%s/direct-%d' % (work, rep), requirements=REQUIREMENTS, index_url=index_url)
        timed('wheel_cache first build', lambda: build_caches(options))
        timed('wheel_cache no-op', lambda: build_caches(options))
        argv = pip_download('%s/direct-pip-%d' % (work, rep), index_url)
        for name in ('pip download (first)', 'pip download (again)'):
            timed(name, lambda: subprocess.run(argv, check=True, capture_output=True))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--index-url', default='https://pypi.org/simple/')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='bench-wheel-cache-')
    try:
        tasks = run_playbook(playbook(work, args.index_url, args.reps))
        direct = direct_timings(work, args.index_url, args.reps)
        files = len([f for f in os.listdir(os.path.join(work, 'pipdir-0')) if f.endswith('.whl')])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [t for t in tasks if t['status'] != 'ok']
    if failed:
        raise SystemExit('tasks failed: %s' % failed)

    print('Same set for both: %s (%d wheels for this host, compiled ones among them), index %s; %d rounds'
          % (', '.join(REQUIREMENTS), files, args.index_url, args.reps))
    print()
    print('Through Ansible (task wall time, ping = fixed per-task cost):')
    print()
    print('| task | median s | all runs (s) | reports changed |')
    print('|---|---:|---|---|')
    names = []
    for task in tasks:
        if task['task'] not in names:
            names.append(task['task'])
    med = {}
    for name in names:
        values = [t['seconds'] for t in tasks if t['task'] == name]
        med[name] = statistics.median(values)
        changed = [t['changed'] for t in tasks if t['task'] == name]
        reported = 'always' if all(changed) else 'never' if not any(changed) else 'sometimes'
        print('| %s | %.3f | %s | %s |' % (name, med[name], ' '.join('%.2f' % v for v in values), reported))
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
    print('| work | median ms | all runs (ms) |')
    print('|---|---:|---|')
    for name, seconds in direct.items():
        print('| %s | %.1f | %s |' % (name, 1000 * statistics.median(seconds), ' '.join('%.1f' % (1000 * v) for v in seconds)))
    direct_noop = statistics.median(direct['wheel_cache no-op'])
    print()
    print('- wheel_cache no-op = %.3fx its first build, %.3fx pip download again (target <= 0.1x)'
          % (direct_noop / statistics.median(direct['wheel_cache first build']),
             direct_noop / statistics.median(direct['pip download (again)'])))


if __name__ == '__main__':
    main()
