# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_offline against gem install by hand (command tasks), side by side in one run, on one offline host.

    .venv/bin/python bench/gem_offline.py [--reps 5]

Builds the fixture gems (airgap_chain_a -> b -> c, airgap_native with a C extension,
airgap_twover 2.0.0) into a cache on the controller, starts one offline host, ships the cache,
installs it three times (gem_offline; `gem install --local --conservative` and plain
`gem install --local` as command tasks, cwd = the cache, each into its own GEM_HOME), then runs
one playbook that repeats, per round: a `ping` task (Ansible's fixed per-task cost) and the
converged no-op of each of the three. Task wall times come from the test harness's callback
(bench/benchlib.py); figures are medians over the rounds. A second table times the same work
on the host without Ansible (gem_offline's probe, and the two gem commands), medians of --reps
runs.
"""

import argparse
import os
import shutil
import tempfile

import benchlib
from gem_offline_support import build_gem_cache, push_dir
from hosts import HostFleet
from sources import GemSource
from ansible_collections.airgap.packages.plugins.module_utils._target.ruby.gem_target import PROBE, ruby_program

GEMS = ['airgap_chain_a-1.0.0.gem', 'airgap_chain_b-1.1.0.gem', 'airgap_chain_c-0.5.0.gem', 'airgap_native-1.0.0.gem',
        'airgap_twover-2.0.0.gem']
TOPS = ['airgap_chain_a', 'airgap_native', 'airgap_twover']
REMOTE = '/srv/bench-gem'
CACHE = REMOTE + '/cache'
DIRS = {'ours': REMOTE + '/ours', 'conservative': REMOTE + '/conservative', 'plain': REMOTE + '/plain'}


def gem_install(kind):
    """gem by hand, run in the cache dir the way the testing notes found to work offline: (argv, environment)."""
    argv = ['gem', 'install', '--local', '--no-document'] + (['--conservative'] if kind == 'conservative' else []) + TOPS
    return argv, {'GEM_HOME': DIRS[kind]}


def gem_task(name, kind):
    argv, env = gem_install(kind)
    return {'name': name, 'ansible.builtin.command': {'argv': argv, 'chdir': CACHE}, 'environment': env}


def gem_offline_task(name):
    return {'name': name, 'airgap.packages.gem_offline': {'cache': CACHE, 'install_dir': DIRS['ours']}}


def playbook(reps):
    tasks = [gem_offline_task('install: gem_offline'), gem_task('install: gem --conservative', 'conservative'),
             gem_task('install: gem', 'plain')]
    for _rep in range(reps):
        tasks += [
            {'name': 'ping', 'ansible.builtin.ping': {}},
            gem_offline_task('no-op: gem_offline'),
            gem_task('no-op: gem install --local --conservative (command)', 'conservative'),
            gem_task('no-op: gem install --local (command)', 'plain'),
        ]
    return benchlib.hosts_play(tasks)


def host_commands():
    """The same work on the host without Ansible: name -> (argv, extra environment, working directory)."""
    return {
        'gem_offline probe (ruby -e)': (['ruby', '-e', ruby_program(PROBE), 'dir', DIRS['ours'], 'ruby'],
                                        {'GEM_HOME': DIRS['ours'], 'GEM_PATH': DIRS['ours']}, None),
        'gem install --local --conservative': gem_install('conservative') + (CACHE,),
        'gem install --local': gem_install('plain') + (CACHE,),
    }


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
        tasks = benchlib.run_playbook(playbook(args.reps), fleet.inventory)
        direct = benchlib.time_commands_on_host(fleet, host, host_commands(), args.reps)
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)
    changed_noops = sorted(set(t.task for t in tasks if t.task.startswith('no-op') and t.changed))
    print('%d gems (one with a C extension) in the cache; %d rounds on one offline host' % (len(GEMS), args.reps))
    print()
    print('Through Ansible (task wall time, ping = fixed per-task cost):')
    print()
    med = benchlib.print_task_table(tasks, ['ping', 'no-op: gem_offline', 'no-op: gem install --local --conservative (command)',
                                            'no-op: gem install --local (command)'])
    ping = med['ping']
    ours = med['no-op: gem_offline'] - ping
    cons = med['no-op: gem install --local --conservative (command)'] - ping
    plain = med['no-op: gem install --local (command)'] - ping
    print()
    print('Beyond the fixed per-task cost (median ping %.3f s), converged no-op:' % ping)
    print('- gem_offline %.3f s; gem install --local --conservative %.3f s (%.1fx); gem install --local %.3f s (%.1fx)'
          % (ours, cons, cons / max(ours, 0.001), plain, plain / max(ours, 0.001)))
    print('- command tasks report changed on every run: %s' % (', '.join(changed_noops) or 'none'))
    first = dict((t.task, t.seconds) for t in tasks if t.task.startswith('install:'))
    print('- first install into an empty GEM_HOME (one run each, with the native build): %s'
          % ', '.join('%s %.2f s' % (name[len('install: '):], seconds) for name, seconds in sorted(first.items())))
    print()
    print('On the host without Ansible (same work, %d runs each):' % args.reps)
    print()
    benchlib.print_runs_table('command', direct)
    direct_med = benchlib.medians(direct)
    probe = direct_med['gem_offline probe (ruby -e)']
    print()
    print('- probe vs gem install --local --conservative: %.1fx; vs gem install --local: %.1fx'
          % (direct_med['gem install --local --conservative'] / probe, direct_med['gem install --local'] / probe))


if __name__ == '__main__':
    main()
