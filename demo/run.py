# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: start offline hosts on this machine, install on them twice, show what happened, clean up."""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'harness'))

from hosts import HostFleet  # noqa: E402
from runner import REPO, Ansible  # noqa: E402
from sources import GemSource  # noqa: E402

SITE = os.path.join(REPO, 'playbooks', 'site.yml')
HOSTS = 3
SUMMARY_TASK = 'Report what this host received and what changed'


def load_vars():
    import yaml  # PyYAML comes with ansible-core in the venv

    with open(os.path.join(HERE, 'vars.yml')) as handle:
        return yaml.safe_load(handle)


def report(title, run, seconds):
    print('\n== %s (%.1f s)' % (title, seconds))
    for host, result in sorted(run.results(SUMMARY_TASK).items()):
        for line in result.get('msg', []):
            print('  %s: %s' % (host, line))
    for host, stats in sorted(run.stats.items()):
        print('  %-10s ok=%d changed=%d failed=%d' % (host, stats.get('ok', 0), stats.get('changed', 0),
                                                      stats.get('failures', 0)))


def main():
    with tempfile.TemporaryDirectory(prefix='airgap-demo-') as state:
        gems = GemSource(os.path.join(state, 'gem-source')).build().start()
        fleet = HostFleet(os.path.join(state, 'hosts'))
        try:
            fleet.start(HOSTS)
            described = ['%s (%s, no route out)' % (host.name, host.address) for host in fleet.hosts]
            print('Started %d offline hosts: %s' % (HOSTS, ', '.join(described)))
            print('Gem source with the fixture gems on %s; Python packages from PyPI' % gems.url)
            extra = dict(load_vars(), offline_install_gem_sources=[gems.url],
                         offline_install_cache_dir=os.path.join(state, 'caches'))
            ansible = Ansible(inventory=fleet.inventory)
            for title in ('First run: build caches, ship, install', 'Second run: nothing to do'):
                started = time.time()
                run = ansible.playbook(SITE, extra_vars=extra)
                if run.rc != 0:
                    print(run)
                    return 1
                report(title, run, time.time() - started)
            imports = fleet.run(fleet.names[0], ['/opt/demo/venv/bin/python', '-c',
                                                 'import requests, yaml; print(requests.__version__)'])
            print('\n%s imports requests %s offline' % (fleet.names[0], imports.stdout.strip()))
            for ecosystem in ('python', 'ruby'):
                root = os.path.join(state, 'caches', ecosystem)
                keys = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
                print('%s caches built on the controller, one per environment key: %s' % (ecosystem, ', '.join(keys)))
        finally:
            fleet.stop()
            gems.stop()
            print('Offline hosts and the gem source stopped.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
