# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: start offline hosts on this machine, install on them twice, then let a node that boots
later pull the same caches from an S3 store by itself; show what happened, clean up."""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'harness'))

from endpoint import EndpointAddress  # noqa: E402
from hosts import HostFleet  # noqa: E402
from node_image import NodeImage, PullNode  # noqa: E402
from runner import REPO, Ansible, local_tasks  # noqa: E402
from s3 import S3Endpoint  # noqa: E402
from sources import GemSource  # noqa: E402

SITE = os.path.join(REPO, 'playbooks', 'site.yml')
HOSTS = 3
SUMMARY_TASK = 'Report what this host received and what changed'
BUCKET = 'airgap-demo'


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


def pull_from_store(state, fleet, extra):
    """Publish the built caches to moto's S3 server, then start a new host that pulls them alone."""
    image = NodeImage().build().install_collection()  # before the host starts: it sees the image at boot
    with EndpointAddress() as endpoint:
        s3 = S3Endpoint(os.path.join(state, 's3'), address=endpoint.address).start()
        try:
            s3.create_bucket(BUCKET)
            store = 's3://%s/fleet' % BUCKET
            options = {'endpoint_url': s3.url, 'region': 'us-east-1'}
            credentials = s3.credentials
            publish = {'airgap.packages.publish_cache': dict(options, store=store, src=[extra['offline_install_cache_dir']]),
                       'name': 'publish', 'environment': {'AWS_ACCESS_KEY_ID': credentials['aws_access_key_id'],
                                                          'AWS_SECRET_ACCESS_KEY': credentials['aws_secret_access_key']}}
            published = local_tasks(Ansible(), state, [publish])['publish']
            print('\n== Pull mode: caches published to %s on moto\'s S3 server at %s (%d bytes uploaded, %d pointers)'
                  % (store, s3.url, published['uploaded_bytes'], len(published['pointers'])))
            joined = fleet.start(1, reach=[endpoint.address])[0]
            print('  %s boots later (%s): it reaches the S3 endpoint and nothing else; the controller stays idle'
                  % (joined.name, joined.address))
            node = PullNode(fleet, joined.name, image, credentials)
            variables = dict(load_vars(), offline_install_store=store, offline_install_store_options=options)
            for title in ('runs pull.yml on itself', 'pulls again'):
                started = time.time()
                run = node.pull(variables)
                if run.rc != 0:
                    print(run)
                    return 1
                requests = sum(result['requests'] for result in run.results(
                    "Fetch the wheel cache of this node's Python key from the store").values())
                requests += sum(result['requests'] for result in run.results(
                    "Fetch the gem cache of this node's Ruby key from the store").values())
                print('  %s %s (%.1f s, %d store requests, changed=%d):'
                      % (joined.name, title, time.time() - started, requests, run.total('changed')))
                for line in run.results(SUMMARY_TASK)['localhost'].get('msg', []):
                    print('    ' + line)
        finally:
            s3.stop()
    return 0


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
            if pull_from_store(state, fleet, extra) != 0:
                return 1
        finally:
            fleet.stop()
            gems.stop()
            print('Offline hosts, the S3 server and the gem source stopped.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
