# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_offline against gem install by hand (command tasks), side by side in one run, on one offline host.

    .venv/bin/python bench/gem_offline.py [--reps 5]

Builds the fixture gems (airgap_chain_a -> b -> c, airgap_native with a C extension,
airgap_twover 2.0.0) into a cache on the controller, starts one offline host, ships the cache,
installs it three times (gem_offline; `gem install --local --conservative` and plain
`gem install --local` as command tasks, cwd = the cache, each into its own GEM_HOME), then runs
one playbook that repeats, per round: a `ping` task (Ansible's fixed per-task cost) and the
converged no-op of each of the three. Task wall times come from bench/callback/bench_timer.py;
figures are medians over the rounds. A second table times the same work on the host without
Ansible (gem_offline's probe, and the two gem commands), medians of --reps runs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path[:0] = [os.path.join(REPO, 'tests', 'harness'), os.path.join(REPO, 'tests', 'integration')]

from hosts import HostFleet  # noqa: E402
from runner import ansible_env, collections_root  # noqa: E402
from sources import GemSource  # noqa: E402

collections_root()
sys.path.insert(0, os.path.join(REPO, 'build', 'collections'))

from gem_offline_support import build_gem_cache, push_dir  # noqa: E402
from ansible_collections.airgap.packages.plugins.module_utils.gem_target import PROBE_SCRIPT  # noqa: E402

GEMS = ['airgap_chain_a-1.0.0.gem', 'airgap_chain_b-1.1.0.gem', 'airgap_chain_c-0.5.0.gem', 'airgap_native-1.0.0.gem',
        'airgap_twover-2.0.0.gem']
TOPS = ['airgap_chain_a', 'airgap_native', 'airgap_twover']
REMOTE = '/srv/bench-gem'
CACHE = REMOTE + '/cache'
DIRS = {'ours': REMOTE + '/ours', 'conservative': REMOTE + '/conservative', 'plain': REMOTE + '/plain'}


def gem_command(kind):
    """A command task running gem by hand the way the testing notes found to work offline."""
    argv = ['gem', 'install', '--local', '--no-document'] + (['--conservative'] if kind == 'conservative' else []) + TOPS
    return {'argv': argv, 'chdir': CACHE}


def install_tasks():
    return [
        {'name': 'install: gem_offline', 'airgap.packages.gem_offline': {'cache': CACHE, 'install_dir': DIRS['ours']}},
        {'name': 'install: gem --conservative', 'ansible.builtin.command': gem_command('conservative'),
         'environment': {'GEM_HOME': DIRS['conservative']}},
        {'name': 'install: gem', 'ansible.builtin.command': gem_command('plain'), 'environment': {'GEM_HOME': DIRS['plain']}},
    ]


def playbook(reps):
    tasks = install_tasks()
    for _rep in range(reps):
        tasks += [
            {'name': 'ping', 'ansible.builtin.ping': {}},
            {'name': 'no-op: gem_offline', 'airgap.packages.gem_offline': {'cache': CACHE, 'install_dir': DIRS['ours']}},
            {'name': 'no-op: gem install --local --conservative (command)', 'ansible.builtin.command': gem_command('conservative'),
             'environment': {'GEM_HOME': DIRS['conservative']}},
            {'name': 'no-op: gem install --local (command)', 'ansible.builtin.command': gem_command('plain'),
             'environment': {'GEM_HOME': DIRS['plain']}},
        ]
    return [{'hosts': 'all', 'gather_facts': False, 'tasks': tasks}]


# Runs on the host with its python3: the same work without Ansible, timed in-process.
HOST_TIMER = r'''
import json, os, subprocess, sys, time, statistics
reps, cache, probe, dirs, tops = json.loads(sys.stdin.read())
def timed(argv, env, cwd=None):
    values = []
    for _ in range(reps):
        start = time.monotonic()
        subprocess.run(argv, env=dict(os.environ, **env), cwd=cwd, check=True, capture_output=True)
        values.append(time.monotonic() - start)
    return values
out = {
    'gem_offline probe (ruby -e)': timed(['ruby', '-e', probe, 'dir', dirs['ours'], 'ruby'],
                                         {'GEM_HOME': dirs['ours'], 'GEM_PATH': dirs['ours']}),
    'gem install --local --conservative': timed(['gem', 'install', '--local', '--no-document', '--conservative'] + tops,
                                                {'GEM_HOME': dirs['conservative']}, cache),
    'gem install --local': timed(['gem', 'install', '--local', '--no-document'] + tops, {'GEM_HOME': dirs['plain']}, cache),
}
print(json.dumps(out))
'''


def run_playbook(fleet, book):
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        json.dump(book, handle)
    env = ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'bench_timer', 'ANSIBLE_CALLBACK_PLUGINS': os.path.join(BENCH, 'callback')})
    env['PATH'] = os.path.join(REPO, '.venv', 'bin') + os.pathsep + env['PATH']
    done = subprocess.run(['ansible-playbook', '-i', fleet.inventory, handle.name], capture_output=True, text=True, env=env,
                          check=False)
    os.unlink(handle.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"tasks"')]
    if done.returncode != 0 or not lines:
        raise SystemExit('playbook failed (%d): %s %s' % (done.returncode, done.stdout[-4000:], done.stderr[-4000:]))
    return json.loads(lines[-1])['tasks']


def host_timings(fleet, host, reps):
    stdin = json.dumps([reps, CACHE, PROBE_SCRIPT, DIRS, TOPS])
    script = HOST_TIMER.replace("sys.stdin.read()", repr(stdin))
    done = fleet.run(host, ['python3', '-c', script], timeout=900)
    if done.returncode != 0:
        raise SystemExit('timing on the host failed: %s' % done.stderr[-3000:])
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=5)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='bench-gem-offline-')
    source = GemSource(os.path.join(work, 'source')).build()
    cache = os.path.join(work, 'cache')
    build_gem_cache(cache, [source.gems[name] for name in GEMS], TOPS)
    fleet = HostFleet(os.path.join(work, 'fleet'))
    try:
        fleet.start(1)
        host = fleet.names[0]
        push_dir(fleet, host, cache, CACHE)
        tasks = run_playbook(fleet, playbook(args.reps))
        direct = host_timings(fleet, host, args.reps)
    finally:
        fleet.stop()
    if os.environ.get('BENCH_DEBUG'):
        for task in tasks:
            sys.stdout.write('%s\n' % json.dumps(task))
    failed = [t for t in tasks if t['status'] != 'ok']
    if failed:
        raise SystemExit('tasks failed: %s' % failed)
    noops = [t for t in tasks if t['task'].startswith('no-op')]
    changed_noops = sorted(set(t['task'] for t in noops if t['changed']))
    print('%d gems (one with a C extension) in the cache; %d rounds on one offline host' % (len(GEMS), args.reps))
    print()
    print('Through Ansible (task wall time, ping = fixed per-task cost):')
    print()
    print('| task | median s | all runs (s) | reports changed |')
    print('|---|---:|---|---|')
    names = ['ping', 'no-op: gem_offline', 'no-op: gem install --local --conservative (command)', 'no-op: gem install --local (command)']
    med = {}
    for name in names:
        values = [t['seconds'] for t in tasks if t['task'] == name]
        med[name] = statistics.median(values)
        changed = [t['changed'] for t in tasks if t['task'] == name]
        reported = 'always' if all(changed) else 'never' if not any(changed) else 'sometimes'
        print('| %s | %.3f | %s | %s |' % (name, med[name], ' '.join('%.2f' % v for v in values), reported))
    ping = med['ping']
    ours = med['no-op: gem_offline'] - ping
    cons = med['no-op: gem install --local --conservative (command)'] - ping
    plain = med['no-op: gem install --local (command)'] - ping
    print()
    print('Beyond the fixed per-task cost (median ping %.3f s), converged no-op:' % ping)
    print('- gem_offline %.3f s; gem install --local --conservative %.3f s (%.1fx); gem install --local %.3f s (%.1fx)'
          % (ours, cons, cons / max(ours, 0.001), plain, plain / max(ours, 0.001)))
    print('- command tasks report changed on every run: %s' % (', '.join(changed_noops) or 'none'))
    first = dict((t['task'], t['seconds']) for t in tasks if t['task'].startswith('install:'))
    print('- first install into an empty GEM_HOME (one run each, with the native build): %s'
          % ', '.join('%s %.2f s' % (name[len('install: '):], seconds) for name, seconds in sorted(first.items())))
    print()
    print('On the host without Ansible (same work, %d runs each):' % args.reps)
    print()
    print('| command | median s | all runs (s) |')
    print('|---|---:|---|')
    for name, values in direct.items():
        print('| %s | %.3f | %s |' % (name, statistics.median(values), ' '.join('%.3f' % v for v in values)))
    probe = statistics.median(direct['gem_offline probe (ruby -e)'])
    print()
    print('- probe vs gem install --local --conservative: %.1fx; vs gem install --local: %.1fx'
          % (statistics.median(direct['gem install --local --conservative']) / probe,
             statistics.median(direct['gem install --local']) / probe))


if __name__ == '__main__':
    main()
