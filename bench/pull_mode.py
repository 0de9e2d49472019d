# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pull mode on offline hosts: against pip by hand, against push mode, and what a store is asked.

    .venv/bin/python bench/pull_mode.py [--repeat 3] [--hosts 20] [--fleet-repeat N] [--parts single fleet publish]

Needs root (offline hosts, the endpoint address) and PyPI. The S3 store is moto's server on the
endpoint address (tests/harness/s3.py), the only address the hosts reach; the nodes run pull.yml
on themselves from the node image (tests/harness/node_image.py), as a boot script would. One run
publishes the caches once (playbooks/publish.yml, Python set plus fixture gems), then measures:

single   per round, on fresh hosts and a fresh virtualenv each: pull.yml from an empty node to
         installed (Python set only), with the role's default installer and with
         offline_install_python_installer: uv (caches with uv in them, on a channel of their own),
         `pip install` from PyPI online (on the controller: the hosts
         have no route out), `python3 -m venv` + `pip install --no-index --find-links` over a copy
         of the same wheels on the host, pip_offline ad hoc with installer=pip and installer=uv
         over a staged cache; then a node with Python and gems pulls twice, and its re-run's store
         requests and bytes are counted.
fleet    per round, --hosts fresh hosts pulling at once, then --hosts fresh hosts installed by
         playbooks/site.yml (forks = --hosts) from the same caches; then each again. Wall time,
         the controller's CPU (a cpuacct group around what the controller starts), the machine's.
publish  a second environment key (CPython 3.12) published after the first into an empty prefix:
         bytes uploaded against the cache's size.

Node-side times are taken on the node (ssh left out). Prints Markdown tables; figures are medians
over the rounds.
"""

import argparse
import collections
import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import benchlib
from endpoint import EndpointAddress
from hosts import HostFleet
from node_image import NodeImage
from runner import RESULTS_CALLBACK, Ansible, PlaybookRun, ansible_env, local_tasks, results_document
from s3 import S3Endpoint
from sources import GemSource

# The collection's parts that are installed (what node_image.py copies into an image).
COLLECTION_PARTS = ('galaxy.yml', 'meta', 'plugins', 'roles', 'playbooks')
# Where the private copy of the collection goes: under /var/tmp, which the hosts see.
PRIVATE_ROOT = '/var/tmp'
REQUIREMENTS = ['requests==2.32.3', 'PyYAML==6.0.2', 'numpy==2.1.3', 'pandas==2.2.3']
GEMS = ['airgap_chain_a', 'airgap_native']
UV = 'uv==0.13.9'
# The second environment key of the publish part: the same set for CPython 3.12 on the hosts' libc and arch.
SECOND_PYTHON = '3.12'
SYSTEM_PYTHON = '/usr/bin/python3'
VENV = '/opt/bench/venv'
GEM_HOME = '/opt/bench/gems'
STAGE = '/var/cache/airgap-bench-pull'
NODE_VARS = '/etc/airgap/vars.yml'
HOST_WHEELS = '/var/tmp/bench-wheels'
HOST_UV_CACHE = '/var/tmp/bench-uv-cache'
CHANNEL = 'stable'
INSTALLERS = ('pip', 'setuptools', 'wheel')

PULL = 'pull mode: pull.yml on the node, S3 store'
ONLINE = 'pip install from PyPI, online (controller)'
ONLINE_VENV = '  of which python3 -m venv (controller)'
OFFLINE = 'venv + pip install --no-index --find-links (host)'
OFFLINE_VENV = '  of which python3 -m venv (host)'
ADHOC_PIP = 'pip_offline ad hoc on the node, installer=pip'
ADHOC_UV = 'pip_offline ad hoc on the node, installer=uv'
PULL_UV = 'pull mode, offline_install_python_installer: uv'
# The channel that serves the caches built with uv in them (for PULL_UV).
UV_CHANNEL = 'uv'


def normalise(name):
    return name.lower().replace('_', '-').replace('.', '-')


def closure_versions(cache, names=None):
    """name -> version of the closure of the manifest's top-level requirements (or of the names given)."""
    with open(os.path.join(cache, 'manifest.json')) as handle:
        manifest = json.load(handle)
    wanted = set(normalise(n) for n in names) if names else None
    closure = set()
    for top in manifest['requirements']:
        if wanted is None or normalise(top['name']) in wanted:
            closure.update(normalise(n) for n in top['closure'])
    return dict((normalise(a['name']), a['version']) for a in manifest['artifacts'] if normalise(a['name']) in closure)


def installed_versions(listing):
    """name -> version from `pip list --format=json`, without the installers a venv is seeded with."""
    return dict((normalise(p['name']), p['version']) for p in json.loads(listing) if normalise(p['name']) not in INSTALLERS)


def cache_bytes(cache):
    with open(os.path.join(cache, 'manifest.json')) as handle:
        return sum(a['size'] for a in json.load(handle)['artifacts'])


def artifacts_of(cache):
    with open(os.path.join(cache, 'manifest.json')) as handle:
        return json.load(handle)['artifacts']


def node_vars(store, options, python, gems, channel=CHANNEL, installer='auto'):
    return {
        'offline_install_python_installer': installer,
        'offline_install_python': [{'venv': VENV, 'requirements': python}] if python else [],
        'offline_install_gems': gems,
        'offline_install_gem_install_dir': GEM_HOME,
        'offline_install_stage_dir': STAGE,
        'offline_install_store': store,
        'offline_install_channel': channel,
        'offline_install_store_options': options,
    }


def failures(run):
    return ['%s: %s' % (t['task'], str(t['result'].get('msg', ''))[:1500]) for t in run.tasks if t['status'] in ('failed', 'unreachable')]


def checked(run, what):
    if run.rc != 0 or failures(run) or not run.tasks:
        raise SystemExit('%s failed (rc %d):\n%s\n%s\n%s'
                         % (what, run.rc, '\n'.join(failures(run)), run.stdout[-3000:], run.stderr[-3000:]))
    return run


def task_seconds(run):
    """(task name, seconds) of every task the run reported, in order (an argument check named without its description)."""
    return [(t['task'].split(' - ')[0], t['seconds']) for t in run.tasks]


def results_of(run, action):
    return [t['result'] for t in run.tasks if t['action'] == action and t['status'] == 'ok']


def median(values):
    return statistics.median(values) if values else float('nan')


def fmt(values, form='%.2f'):
    return ' '.join(form % v for v in values)


class CollectionCopy(NodeImage):
    """The shared node image's virtualenv, with a private copy of the collection and of the results callback.

    The copy is taken once, from the commit checked out, and both sides run it: the nodes (through this
    image) and the controller (ANSIBLE_COLLECTIONS_PATH), so edits to the working tree during a run
    change nothing measured.
    """

    def __init__(self, root):
        super().__init__()
        self.root = root

    @property
    def collections_path(self):
        return os.path.join(self.root, 'collections')

    @property
    def callback_plugins(self):
        return os.path.join(self.root, 'callback_plugins')


def committed_collection(directory):
    """The collection's parts as committed at HEAD, exported into directory; returns the commit."""
    commit = subprocess.run(['git', '-C', benchlib.REPO, 'rev-parse', 'HEAD'], check=True, capture_output=True,
                            text=True).stdout.strip()
    os.makedirs(directory)
    archive = subprocess.Popen(['git', '-C', benchlib.REPO, 'archive', commit] + list(COLLECTION_PARTS), stdout=subprocess.PIPE)
    subprocess.run(['tar', '-x', '-C', directory], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit('git archive %s failed' % commit)
    return commit


class EndpointKeeper(threading.Thread):
    """Keeps the endpoint address on lo while the run lasts, and notes each time it had to put it back.

    Test sessions on the same machine add the address when it is absent and take it off when they end;
    one that ends during this run would cut this run's hosts off from the store.
    """

    def __init__(self, endpoint, interval=0.25):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.interval = interval
        self.events = []
        self._stopping = threading.Event()

    def assigned(self):
        """Whether the address is this machine's: a socket binds to it (no process started, so no CPU in rusage)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((self.endpoint.address, 0))
            except OSError:
                return False
        return True

    def run(self):
        while not self._stopping.wait(self.interval):
            try:
                if not self.assigned():
                    self.endpoint.add()
                    self.events.append(time.time())
            except (RuntimeError, subprocess.CalledProcessError):
                pass

    def stop(self):
        self._stopping.set()
        self.join()

    def hit(self, start, end):
        """Whether the address was missing (and put back) between two time.time() values."""
        return any(start - self.interval <= event <= end for event in self.events)


def release_endpoint(endpoint):
    """Take the endpoint address off lo if this run put it there and no other session's hosts route to it.

    Another session on the machine may have started using the address after this run added it (the
    harness adds it only when it is absent); removing it then would cut that session's hosts off. Runs after
    this run's fleets have stopped: any host namespace still routing to the address is another session's.
    """
    if not endpoint.added:
        return
    listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=False).stdout.split()
    others = []
    for netns in [name for name in listed if name.startswith('agh-')]:
        route = subprocess.run(['ip', 'netns', 'exec', netns, 'ip', 'route', 'show', endpoint.address],
                               capture_output=True, text=True, check=False).stdout.strip()
        if route:
            others.append(netns)
    if others:
        sys.stderr.write('%s stays on lo: the hosts of another session (%s) route to it\n'
                         % (endpoint.address, ', '.join(others)))
        return
    endpoint.remove()


class Bench:
    """The servers, the node image, the published caches and the node variables one run of the script shares."""

    def __init__(self, state, stack):
        self.state = state
        self.stack = stack

    def start(self):
        private = tempfile.mkdtemp(prefix='airgap-bench-pull-', dir=PRIVATE_ROOT)
        self.stack.callback(shutil.rmtree, private, True)
        source = os.path.join(private, 'source')
        self.commit = committed_collection(source)
        endpoint = EndpointAddress().add()
        self.stack.callback(release_endpoint, endpoint)
        self.keeper = EndpointKeeper(endpoint)
        self.keeper.start()
        self.stack.callback(self.keeper.stop)
        self.s3 = S3Endpoint(os.path.join(self.state, 's3'), address=endpoint.address, authenticated=True).start()
        self.stack.callback(self.s3.stop)
        self.bucket = self.s3.create_bucket('airgap-bench-%s' % uuid.uuid4().hex[:12])
        self.gems = GemSource(os.path.join(self.state, 'gem-source')).build().start()
        self.stack.callback(self.gems.stop)
        # The image exists before any host starts (an overlay does not see files added below it later).
        self.image = CollectionCopy(private)
        self.image.build().install_collection(source)
        self.collections_env = {'ANSIBLE_COLLECTIONS_PATH': self.image.collections_path}
        self.playbooks = os.path.join(self.image.collection, 'playbooks')
        self.reader = self.s3.credentials_of('reader')
        self.writer = self.s3.credentials
        self.store = 's3://%s/fleet' % self.bucket
        self.options = {'endpoint_url': self.s3.url, 'region': 'us-east-1'}
        self.python_vars = node_vars(self.store, self.options, REQUIREMENTS, [])
        self.both_vars = node_vars(self.store, self.options, REQUIREMENTS, GEMS)
        self.uv_vars = node_vars(self.store, self.options, REQUIREMENTS, [], channel=UV_CHANNEL, installer='uv')
        self.cache_dir = os.path.join(self.state, 'caches')
        self.build_vars = dict(self.both_vars, offline_install_gem_sources=[self.gems.url],
                               offline_install_cache_dir=self.cache_dir)
        return self

    def ansible(self, **env):
        """The ansible CLI on the controller, with the private copy of the collection."""
        return Ansible(env=dict(self.collections_env, **env))

    @property
    def writer_env(self):
        return {'AWS_ACCESS_KEY_ID': self.writer['aws_access_key_id'], 'AWS_SECRET_ACCESS_KEY': self.writer['aws_secret_access_key']}

    def fleet(self, name):
        """A HostFleet that is stopped when the run ends, whatever happens."""
        fleet = HostFleet(os.path.join(self.state, name))
        self.stack.callback(fleet.stop)
        return fleet

    def publish(self):
        """Describe a host of the image, build its caches and publish them with publish.yml; returns figures."""
        describer = self.fleet('describer')
        try:
            describer.start(1)
            name = describer.names[0]
            facts = self.ansible().module(name, 'airgap.packages.platform_facts', inventory=describer.inventory)
            self.platform = facts[name]['ansible_facts']['airgap_platform']
            started = time.monotonic()
            run = self.ansible(**self.writer_env).playbook(os.path.join(self.playbooks, 'publish.yml'),
                                                           extra_vars=self.build_vars, inventory=describer.inventory)
            seconds = time.monotonic() - started
            checked(run, 'publish.yml')
            # The same set with uv in its cache, on a channel of its own, for the pull with installer uv.
            uv_build = dict(self.uv_vars, offline_install_cache_dir=os.path.join(self.state, 'caches-uv'))
            checked(self.ansible(**self.writer_env).playbook(os.path.join(self.playbooks, 'publish.yml'),
                                                             extra_vars=uv_build, inventory=describer.inventory),
                    'publish.yml (uv)')
        finally:
            describer.stop()
        published = results_of(run, 'airgap.packages.publish_cache')[0]
        self.python_cache = os.path.join(self.cache_dir, 'python', self.platform['python']['key'])
        self.gem_cache = os.path.join(self.cache_dir, 'ruby', self.platform['ruby']['key'])
        self.packages = [normalise(r.split('==', maxsplit=1)[0]) for r in REQUIREMENTS]
        self.expected = closure_versions(self.python_cache, self.packages)
        # The same set plus uv, for the ad hoc installer=uv row (uv is in the cache, not installed).
        built = local_tasks(self.ansible(), self.state, [{'name': 'uv cache', 'airgap.packages.wheel_cache': {
            'requirements': REQUIREMENTS + [UV], 'platforms': [self.platform['python']], 'include_installers': True,
            'dest': os.path.join(self.state, 'uv-cache')}}])
        self.uv_cache = built['uv cache']['caches'][0]['path']
        return {'seconds': seconds, 'uploaded_bytes': published['uploaded_bytes'], 'requests': published['requests'],
                'artifacts': len(artifacts_of(self.python_cache)) + len(artifacts_of(self.gem_cache))}

    def pull_argv(self):
        argv = self.image.pull_argv(extra_vars_file=NODE_VARS, results=True)
        # As an instance profile would: the credentials reach boto3 through its standard chain.
        argv[1:1] = ['AWS_ACCESS_KEY_ID=%s' % self.reader['aws_access_key_id'],
                     'AWS_SECRET_ACCESS_KEY=%s' % self.reader['aws_secret_access_key']]
        return argv

    def adhoc_argv(self, module, args):
        env = dict(self.image.environment(results=True), ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
        return (['env'] + ['%s=%s' % item for item in sorted(env.items())]
                + [os.path.join(self.image.venv, 'bin', 'ansible'), 'localhost', '-c', 'local', '-i', 'localhost,',
                   '-m', module, '-a', json.dumps(args)])


def write_vars(fleet, host, variables):
    fleet.run(host, ['sh', '-c', 'mkdir -p %s && cat > %s' % (os.path.dirname(NODE_VARS), NODE_VARS)],
              input=json.dumps(variables), check=True)


def as_playbook(host_run):
    return PlaybookRun(host_run, results_document(host_run.stdout))


def host_installed(fleet, host):
    listed = fleet.run(host, [VENV + '/bin/python', '-m', 'pip', 'list', '--format=json', '--disable-pip-version-check'])
    return installed_versions(listed.stdout) if listed.returncode == 0 else {'(pip list failed)': listed.stderr[-200:]}


# --- single nodes ----------------------------------------------------------------------------------------


def pull_once(bench, fleet, host, what):
    ran = benchlib.run_timed_on_host(fleet, host, bench.pull_argv())
    return ran.seconds, checked(as_playbook(ran), what)


def online_pip(bench, workdir):
    """A fresh venv of the hosts' interpreter on the controller, `pip install` from PyPI, no pip configuration."""
    venv = os.path.join(workdir, 'online-venv')
    shutil.rmtree(venv, ignore_errors=True)
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('PIP_', 'PYTHON', 'VIRTUAL_ENV', 'UV_')))
    env['PIP_CONFIG_FILE'] = os.devnull
    started = time.monotonic()
    subprocess.run([SYSTEM_PYTHON, '-m', 'venv', venv], env=env, check=True, capture_output=True)
    made = time.monotonic()
    done = subprocess.run([os.path.join(venv, 'bin', 'pip'), 'install', '--isolated', '--no-cache-dir'] + REQUIREMENTS,
                          env=env, capture_output=True, text=True, check=False)
    ended = time.monotonic()
    if done.returncode != 0:
        raise SystemExit('pip install from PyPI failed: %s' % (done.stderr or done.stdout)[-3000:])
    listed = subprocess.run([os.path.join(venv, 'bin', 'pip'), 'list', '--format=json', '--isolated',
                             '--disable-pip-version-check'], env=env, check=True, capture_output=True, text=True)
    installed = installed_versions(listed.stdout)
    shutil.rmtree(venv)
    return ended - started, made - started, installed


def offline_pip(fleet, host):
    commands = collections.OrderedDict([
        ('venv', ([SYSTEM_PYTHON, '-m', 'venv', VENV], {}, None)),
        ('install', ([VENV + '/bin/pip', 'install', '--no-index', '--find-links', HOST_WHEELS] + REQUIREMENTS, {}, None)),
    ])
    times = benchlib.time_commands_on_host(fleet, host, commands, 1)
    return times['venv'][0] + times['install'][0], times['venv'][0], host_installed(fleet, host)


def adhoc_pip_offline(bench, fleet, host, installer):
    args = {'cache': HOST_UV_CACHE, 'virtualenv': VENV, 'packages': bench.packages, 'installer': installer}
    ran = benchlib.run_timed_on_host(fleet, host, bench.adhoc_argv('airgap.packages.pip_offline', args))
    run = checked(as_playbook(ran), 'pip_offline installer=%s' % installer)
    result = run.tasks[0]['result']
    if result.get('installer') != installer:
        raise SystemExit('pip_offline ran %s, not %s' % (result.get('installer'), installer))
    return ran.seconds, run.tasks[0]['seconds'], host_installed(fleet, host)


PING_PLAY = [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
              'vars': {'ansible_python_interpreter': '{{ ansible_playbook_python }}'},
              'tasks': [{'name': 'ping', 'ansible.builtin.ping': {}}]}]
PING_PATH = '/var/tmp/bench-ping.yml'
# What fetch_cache does before its first request to an s3:// store: import boto3 and make a client.
BOTO3_CLIENT = ('import boto3; from botocore.config import Config; '
                'boto3.session.Session().client("s3", region_name="us-east-1", endpoint_url="%s", config=Config())')


def node_fixed_costs(bench, fleet, host, fixed):
    """On a node: a one-ping playbook run like pull.yml (start-up and one module run), and a boto3 client."""
    fleet.run(host, ['sh', '-c', 'cat > %s' % PING_PATH], input=json.dumps(PING_PLAY), check=True)
    ran = benchlib.run_timed_on_host(fleet, host, bench.image.pull_argv(playbook=PING_PATH, results=True))
    run = checked(as_playbook(ran), 'ping playbook on the node')
    ping = run.tasks[0]['seconds']
    fixed['one-ping playbook on the node, whole run'].append(ran.seconds)
    fixed['  the ping task (one module run)'].append(ping)
    fixed['  outside the task (start-up, parsing, recap)'].append(ran.seconds - ping)
    bare = benchlib.run_timed_on_host(fleet, host, [bench.image.python, '-c', 'pass'])
    client = benchlib.run_timed_on_host(fleet, host, [bench.image.python, '-c', BOTO3_CLIENT % bench.s3.url])
    if client.returncode != 0:
        raise SystemExit('boto3 on the node failed: %s' % client.stderr[-2000:])
    fixed['python -c pass (the image\'s interpreter)'].append(bare.seconds)
    fixed['python: import boto3 and make an S3 client, beyond that'].append(client.seconds - bare.seconds)


def single_round(bench, index, figures):
    fleet = bench.fleet('round-%d' % index)
    try:
        fleet.start(6, reach=[bench.s3.address])
        pull_host, offline_host, pip_host, uv_host, both_host, uv_pull_host = fleet.names
        # Preparation, not timed: the node's vars (user-data writes them), the local copies of the wheels.
        write_vars(fleet, pull_host, bench.python_vars)
        write_vars(fleet, both_host, bench.both_vars)
        write_vars(fleet, uv_pull_host, bench.uv_vars)
        fleet.push_dir(offline_host, bench.python_cache, HOST_WHEELS)
        for host in (pip_host, uv_host):
            fleet.push_dir(host, bench.uv_cache, HOST_UV_CACHE)

        def pull():
            seconds, run = pull_once(bench, fleet, pull_host, 'pull.yml (Python)')
            figures['times'][PULL].append(seconds)
            figures['pull_tasks'].append(task_seconds(run))
            figures['pull_fetch'].append(results_of(run, 'airgap.packages.fetch_cache')[0])
            figures['sets'][PULL].append(host_installed(fleet, pull_host))

        def pull_uv():
            seconds, run = pull_once(bench, fleet, uv_pull_host, 'pull.yml (Python, installer uv)')
            installers = set(item['installer'] for r in results_of(run, 'airgap.packages.pip_offline') for item in r['results'])
            if installers != {'uv'}:
                raise SystemExit('pull.yml with installer uv ran %s' % ', '.join(sorted(installers)))
            figures['times'][PULL_UV].append(seconds)
            figures['sets'][PULL_UV].append(host_installed(fleet, uv_pull_host))

        def online():
            seconds, venv, installed = online_pip(bench, bench.state)
            figures['times'][ONLINE].append(seconds)
            figures['times'][ONLINE_VENV].append(venv)
            figures['sets'][ONLINE].append(installed)

        def offline():
            seconds, venv, installed = offline_pip(fleet, offline_host)
            figures['times'][OFFLINE].append(seconds)
            figures['times'][OFFLINE_VENV].append(venv)
            figures['sets'][OFFLINE].append(installed)

        def adhoc(installer, host, name):
            def measure():
                seconds, task, installed = adhoc_pip_offline(bench, fleet, host, installer)
                figures['times'][name].append(seconds)
                figures['adhoc_task'][installer].append(task)
                figures['sets'][name].append(installed)
            return measure

        steps = [(PULL, pull), (PULL_UV, pull_uv), (OFFLINE, offline), (ONLINE, online), (ADHOC_PIP, adhoc('pip', pip_host, ADHOC_PIP)),
                 (ADHOC_UV, adhoc('uv', uv_host, ADHOC_UV))]
        shift = index % len(steps)
        for name, step in steps[shift:] + steps[:shift]:
            figures['quiet'].append(benchlib.wait_for_quiet())
            began = time.time()
            step()
            if bench.keeper.hit(began, time.time()):
                figures['disturbed'].append('round %d: %s' % (index + 1, name))

        # Ansible's own fixed costs on the node, and what a fetch pays before its first request.
        figures['quiet'].append(benchlib.wait_for_quiet())
        node_fixed_costs(bench, fleet, pull_host, figures['fixed'])

        # Re-run: a node holding its caches (Python and gems) pulls again.
        figures['quiet'].append(benchlib.wait_for_quiet())
        first, _run = pull_once(bench, fleet, both_host, 'pull.yml (Python and gems)')
        figures['quiet'].append(benchlib.wait_for_quiet())
        before, began = len(bench.s3.requests()), time.time()
        seconds, run = pull_once(bench, fleet, both_host, 'pull.yml re-run')
        if bench.keeper.hit(began, time.time()):
            figures['disturbed'].append('round %d: re-run' % (index + 1))
        asked = bench.s3.requests()[before:]
        fetched = dict((r['ecosystem'], r) for r in results_of(run, 'airgap.packages.fetch_cache'))
        figures['rerun'].append({
            'first': first, 'seconds': seconds, 'changed': run.total('changed'), 'server_requests': asked,
            'fetched': dict((eco, (r['downloaded_bytes'], r['requests'])) for eco, r in fetched.items()),
            'tasks': task_seconds(run)})
    finally:
        fleet.stop()


def print_single(bench, figures, repeat):
    times = figures['times']
    base = median(times[OFFLINE])
    rows = []
    for name in (PULL, PULL_UV, OFFLINE, OFFLINE_VENV, ONLINE, ONLINE_VENV, ADHOC_PIP, ADHOC_UV):
        values = times[name]
        ratio = '' if name.startswith('  ') else '%.2fx' % (median(values) / base)
        rows.append([name, '%.2f' % median(values), fmt(values), ratio])
    print('### From an empty node to installed: %s (%d wheels, %.1f MB), medians of %d rounds'
          % (' '.join(REQUIREMENTS), len(bench.expected), cache_bytes(bench.python_cache) / 1e6, repeat))
    print()
    print(benchlib.markdown_table(['run', 'median s', 'all rounds (s)', 'vs pip --no-index by hand'], rows))
    print()
    same = all(s == bench.expected for sets in figures['sets'].values() for s in sets)
    print('Installed sets: %s' % ('the same %d distributions (%s) everywhere' % (
        len(bench.expected), ', '.join('%s %s' % item for item in sorted(bench.expected.items())))
        if same else 'DIFFER: %r' % dict(figures['sets'])))
    fetch = figures['pull_fetch']
    print('Pull fetch: %s bytes downloaded in %s requests to the store.' % (
        '/'.join(str(f['downloaded_bytes']) for f in fetch), '/'.join(str(f['requests']) for f in fetch)))
    print()

    # Where the pull run's time goes, per task (node side, from the results callback).
    names = []
    for tasks in figures['pull_tasks']:
        for name, _seconds in tasks:
            if name not in names:
                names.append(name)
    per_task = collections.OrderedDict((name, [sum(s for n, s in tasks if n == name) for tasks in figures['pull_tasks']])
                                       for name in names)
    outside = [total - sum(s for _n, s in tasks) for total, tasks in zip(times[PULL], figures['pull_tasks'])]
    total = median(times[PULL])
    rows = [[name, '%.3f' % median(values), fmt(values, '%.3f'), '%.0f%%' % (100 * median(values) / total)]
            for name, values in per_task.items()]
    rows.append(['ansible-playbook outside tasks (start-up, parsing, includes, recap)', '%.3f' % median(outside),
                 fmt(outside, '%.3f'), '%.0f%%' % (100 * median(outside) / total)])
    rows.append(['whole pull run on the node', '%.3f' % total, fmt(times[PULL], '%.3f'), '100%'])
    print('### The pull run per task (pull.yml on the node, Python set only)')
    print()
    print(benchlib.markdown_table(['task', 'median s', 'all rounds (s)', 'share'], rows))
    print()
    rows = []
    for installer, name in (('pip', ADHOC_PIP), ('uv', ADHOC_UV)):
        task, whole = figures['adhoc_task'][installer], times[name]
        rows.append(['pip_offline installer=%s: the task' % installer, '%.3f' % median(task), fmt(task, '%.3f')])
        rows.append(['pip_offline installer=%s: the whole `ansible` command' % installer, '%.3f' % median(whole),
                     fmt(whole, '%.3f')])
    print('### pip_offline ad hoc on a node (cache staged beforehand, fresh virtualenv)')
    print()
    print(benchlib.markdown_table(['run', 'median s', 'all rounds (s)'], rows))
    print()

    print('### Fixed costs on a node (the pull host, after its run)')
    print()
    print(benchlib.markdown_table(['run', 'median s', 'all rounds (s)'], [
        [name, '%.3f' % median(values), fmt(values, '%.3f')] for name, values in figures['fixed'].items()]))
    print()

    reruns = figures['rerun']
    rows = []
    for number, rerun in enumerate(reruns, 1):
        rows.append([str(number), '%.2f' % rerun['seconds'], '%.2f' % rerun['first'], str(rerun['changed']),
                     str(len(rerun['server_requests'])),
                     ', '.join('%s %d B / %d req' % (eco, b, r) for eco, (b, r) in sorted(rerun['fetched'].items())),
                     ', '.join('%s %s' % (m, p.split('/channels/', 1)[-1]) for m, p, _s in rerun['server_requests'])
                     or '-'])
    print('### Re-run of a node that holds its caches (Python set + gems %s)' % ' '.join(GEMS))
    print()
    print(benchlib.markdown_table(['round', 're-run s', 'first pull s', 'changed', 'requests the store saw',
                                   'fetch_cache results', 'what was asked'], rows))
    print()
    names = []
    for rerun in reruns:
        for name, _s in rerun['tasks']:
            if name not in names:
                names.append(name)
    per_task = collections.OrderedDict((name, [sum(s for n, s in r['tasks'] if n == name) for r in reruns]) for name in names)
    outside = [r['seconds'] - sum(s for _n, s in r['tasks']) for r in reruns]
    rows = [[name, '%.3f' % median(values), fmt(values, '%.3f')] for name, values in per_task.items()]
    rows.append(['ansible-playbook outside tasks', '%.3f' % median(outside), fmt(outside, '%.3f')])
    print('Re-run per task:')
    print()
    print(benchlib.markdown_table(['task', 'median s', 'all rounds (s)'], rows))
    print()


# --- fleets ----------------------------------------------------------------------------------------------


class Meter:
    """Wall time, the controller-side group's CPU, this process's reaped children's CPU, the machine's CPU and
    the store server's CPU between start() and stop()."""

    def __init__(self, account, s3):
        self.account = account
        self.s3 = s3

    def _read(self):
        usage = self.account.usage()
        store = self.s3._process.pid if self.s3._process else None
        return {'wall': time.monotonic(), 'group': sum(usage) if usage else float('nan'),
                'children': benchlib.children_cpu_seconds(), 'machine': benchlib.machine_cpu_seconds(),
                'store': benchlib.process_cpu_seconds(store) if store else float('nan')}

    def start(self):
        self.before = self._read()

    def stop(self):
        after = self._read()
        return dict((key, after[key] - self.before[key]) for key in after)


def pull_fleet(bench, count, index, quiet, disturbed):
    fleet = bench.fleet('pull-fleet-%d' % index)
    account = benchlib.CpuAccount('pull-%d' % index)
    outcome = {}
    try:
        fleet.start(count, reach=[bench.s3.address])
        for host in fleet.names:
            write_vars(fleet, host, bench.both_vars)
        meter = Meter(account, bench.s3)
        for phase in ('first', 'again'):
            workdir = tempfile.mkdtemp(prefix='pull-%s-' % phase, dir=bench.state)
            runs = benchlib.TimedHostRuns(fleet, workdir, wrap=account.wrap)
            quiet.append(benchlib.wait_for_quiet())
            before, began = len(bench.s3.requests()), time.time()
            meter.start()
            for host in fleet.names:
                runs.start(host, bench.pull_argv())
            ran = runs.wait()
            measured = meter.stop()
            if bench.keeper.hit(began, time.time()):
                disturbed.append('round %d: pull, %s run' % (index + 1, phase))
            asked = bench.s3.requests()[before:]
            plays = dict((host, checked(as_playbook(r), 'pull.yml on %s (%s)' % (host, phase))) for host, r in ran.items())
            measured.update(
                per_host=[r.seconds for r in ran.values()], changed=sum(1 for p in plays.values() if p.total('changed')),
                requests=len(asked), tasks=[task_seconds(p) for p in plays.values()],
                downloaded=sum(r['downloaded_bytes'] for p in plays.values() for r in results_of(p, 'airgap.packages.fetch_cache')))
            outcome[phase] = measured
    finally:
        account.close()
        fleet.stop()
    return outcome


def push_fleet(bench, count, index, quiet, disturbed):
    fleet = bench.fleet('push-fleet-%d' % index)
    account = benchlib.CpuAccount('push-%d' % index)
    outcome = {}
    try:
        fleet.start(count)
        env = ansible_env(dict(RESULTS_CALLBACK, ANSIBLE_FORKS=str(count), **bench.collections_env))
        argv = ['ansible-playbook', os.path.join(bench.playbooks, 'site.yml'), '-i', fleet.inventory, '-e', json.dumps(bench.build_vars)]
        meter = Meter(account, bench.s3)
        for phase in ('first', 'again'):
            quiet.append(benchlib.wait_for_quiet())
            meter.start()
            done = subprocess.run(account.wrap(argv), env=env, capture_output=True, text=True, check=False)
            measured = meter.stop()
            run = checked(PlaybookRun(done, results_document(done.stdout)), 'site.yml (%s)' % phase)
            by_host = collections.defaultdict(list)
            for task in run.tasks:
                by_host[task['host']].append((task['task'].split(' - ')[0], task['seconds']))
            measured.update(per_host=[], changed=sum(1 for stats in run.stats.values() if stats.get('changed')),
                            requests=0, tasks=list(by_host.values()),
                            shipped=sum(r.get('transferred_bytes', 0) for r in results_of(run, 'airgap.packages.ship_cache')))
            outcome[phase] = measured
    finally:
        # ssh's ControlPersist masters are still in the group: ended here, by PID.
        account.close()
        fleet.stop()
    return outcome


def print_fleet(rounds, count):
    print('### %d fresh hosts at once: pull mode against push mode (site.yml, forks %d), same caches; %d round(s)'
          % (count, count, len(rounds)))
    print()
    rows = []
    labels = [('pull', 'first', 'pull: %d nodes run pull.yml at once' % count),
              ('push', 'first', 'push: site.yml to %d hosts' % count),
              ('pull', 'again', 'pull: the same nodes again'),
              ('push', 'again', 'push: site.yml again (no-op)')]
    for mode, phase, label in labels:
        got = [r[mode][phase] for r in rounds if mode in r and phase in r[mode]]
        if not got:
            continue
        walls = [g['wall'] for g in got]
        per_host = [v for g in got for v in g['per_host']]
        rows.append([label, '%.1f' % median(walls), fmt(walls, '%.1f'),
                     ('%.1f / %.1f' % (median(per_host), max(per_host))) if per_host else '-',
                     '%.2f' % median([g['group'] for g in got]), '%.2f' % median([g['children'] for g in got]),
                     '%.1f' % median([g['machine'] for g in got]),
                     '%.1f' % median([g['store'] for g in got]) if mode == 'pull' else '-',
                     '%d' % median([g['changed'] for g in got]),
                     ('%d req, %.1f MB' % (median([g['requests'] for g in got]), median([g['downloaded'] for g in got]) / 1e6))
                     if mode == 'pull' else '%.1f MB shipped' % (median([g['shipped'] for g in got]) / 1e6)])
    print(benchlib.markdown_table(
        ['run', 'wall s (median)', 'all rounds (s)', 'per node s, median / slowest', 'controller CPU s (group)',
         'controller CPU s (rusage)', 'machine CPU s', 'store server CPU s', 'hosts changed', 'transfer'], rows))
    print()
    for mode, label in (('pull', 'pull.yml on each node'), ('push', 'site.yml, per host')):
        tasks = [t for r in rounds if mode in r for t in r[mode]['first']['tasks']]
        names = []
        for host_tasks in tasks:
            for name, _s in host_tasks:
                if name not in names:
                    names.append(name)
        rows = []
        for name in names:
            values = [sum(s for n, s in host_tasks if n == name) for host_tasks in tasks if any(n == name for n, _s in host_tasks)]
            rows.append([name, '%.2f' % median(values), '%.2f' % max(values)])
        print('First run, %s: task wall time over all hosts and rounds' % label)
        print()
        print(benchlib.markdown_table(['task', 'median s', 'slowest s'], rows))
        print()


# --- publishing ------------------------------------------------------------------------------------------


def publish_second_key(bench):
    """Publish the first key's cache into an empty prefix, then a CPython 3.12 cache of the same set, then both again."""
    second = dict(bench.platform['python'])
    platform = {'version': SECOND_PYTHON, 'arch': second['arch'], 'libc': second['libc']}
    built = local_tasks(bench.ansible(), bench.state, [{'name': 'second key', 'airgap.packages.wheel_cache': {
        'requirements': REQUIREMENTS, 'platforms': [platform], 'include_installers': True,
        'dest': os.path.join(bench.state, 'caches-second')}}])
    second_cache = built['second key']['caches'][0]['path']
    store = 's3://%s/publish-%s' % (bench.bucket, uuid.uuid4().hex[:8])
    options = dict(bench.options, access_key=bench.writer['aws_access_key_id'], secret_key=bench.writer['aws_secret_access_key'])
    rows = []

    def publish(label, sources):
        started = time.monotonic()
        result = local_tasks(bench.ansible(), bench.state, [{'name': 'publish', 'airgap.packages.publish_cache': dict(
            options, store=store, channel=CHANNEL, src=sources)}])['publish']
        seconds = time.monotonic() - started
        size = sum(cache_bytes(s) for s in sources)
        count = sum(len(artifacts_of(s)) for s in sources)
        rows.append([label, str(count), '%d' % size, '%d' % result['uploaded_bytes'], str(len(result['uploaded'])),
                     str(result['reused_artifacts']), str(result['requests']), '%.2f' % seconds])
        return result

    publish('first key %s' % bench.platform['python']['key'], [bench.python_cache])
    result = publish('second key %s' % built['second key']['caches'][0]['key'], [second_cache])
    publish('both again', [bench.python_cache, second_cache])
    first_hashes = set(a['sha256'] for a in artifacts_of(bench.python_cache))
    differ = [a for a in artifacts_of(second_cache) if a['sha256'] not in first_hashes]
    shared = [a for a in artifacts_of(second_cache) if a['sha256'] in first_hashes]
    print('### Publishing a second environment key (CPython %s, same set) after the first, into an empty prefix'
          % SECOND_PYTHON)
    print()
    print(benchlib.markdown_table(['publish', 'artifacts', 'cache bytes', 'uploaded bytes', 'uploaded artifacts',
                                   'reused artifacts', 'store requests', 'seconds'], rows))
    print()
    print('Second key: %d of its %d artifacts are the first key\'s (%s); the %d that differ are %d bytes (%s); '
          'uploaded: %d bytes, %s.' % (
              len(shared), len(shared) + len(differ), ', '.join(sorted(a['filename'] for a in shared)),
              len(differ), sum(a['size'] for a in differ), ', '.join(sorted(a['filename'] for a in differ)),
              result['uploaded_bytes'],
              'exactly those' if result['uploaded_bytes'] == sum(a['size'] for a in differ) else 'NOT exactly those'))
    print()


def print_disturbed(disturbed):
    if disturbed:
        print('Measurements during which something else took the endpoint address off lo (put back within 0.25 s): %s.'
              % '; '.join(disturbed))
    else:
        print('The endpoint address stayed on lo throughout these measurements.')
    print()


def print_quiet(what, shares):
    print('The machine (both cores) was busy %.0f%% (median; at most %.0f%%) in the 2 s before each %s, '
          'this script\'s idle servers and hosts included.' % (100 * median(shares), 100 * max(shares), what))
    print()


# --- main ------------------------------------------------------------------------------------------------


def notes(bench, published):
    versions = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '--version'],
                              capture_output=True, text=True, check=False).stdout.splitlines()[0]
    host_python = subprocess.run([SYSTEM_PYTHON, '--version'], capture_output=True, text=True, check=False).stdout.strip()
    with open('/proc/loadavg') as handle:
        load = ' '.join(handle.read().split()[:3])
    print('Run %s: nproc %d, load average at start %s; %s; collection at commit %s (nodes and controller alike); '
          'hosts: %s; Python set %s; gems %s.'
          % (datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), os.cpu_count(), load, versions, bench.commit[:12],
             host_python, ' '.join(REQUIREMENTS), ' '.join(GEMS)))
    print('Python cache %s: %d artifacts, %d bytes; gem cache %s: %d artifacts, %d bytes.' % (
        os.path.basename(bench.python_cache), len(artifacts_of(bench.python_cache)), cache_bytes(bench.python_cache),
        os.path.basename(bench.gem_cache), len(artifacts_of(bench.gem_cache)), cache_bytes(bench.gem_cache)))
    print('publish.yml (build both caches from PyPI and the fixture gem source, publish into an empty prefix): %.1f s, '
          '%d bytes uploaded, %d store requests.' % (published['seconds'], published['uploaded_bytes'], published['requests']))
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--repeat', type=int, default=3, help='rounds of the single-node part (and of the fleet part)')
    parser.add_argument('--hosts', type=int, default=20, help='hosts of the fleet part')
    parser.add_argument('--fleet-repeat', type=int, default=None, help='rounds of the fleet part (default: --repeat)')
    parser.add_argument('--parts', nargs='+', choices=['single', 'fleet', 'publish'], default=['single', 'fleet', 'publish'])
    args = parser.parse_args()
    fleet_repeat = args.fleet_repeat if args.fleet_repeat is not None else args.repeat
    # A stop by SIGTERM runs the finally blocks too: nothing stays behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='airgap-bench-pull-') as state, contextlib.ExitStack() as stack:
        bench = Bench(state, stack).start()
        published = bench.publish()
        notes(bench, published)
        sys.stdout.flush()
        if 'single' in args.parts:
            figures = {'times': collections.defaultdict(list), 'sets': collections.defaultdict(list), 'pull_tasks': [],
                       'pull_fetch': [], 'adhoc_task': collections.defaultdict(list), 'rerun': [], 'quiet': [],
                       'fixed': collections.defaultdict(list), 'disturbed': []}
            for index in range(args.repeat):
                single_round(bench, index, figures)
            print_single(bench, figures, args.repeat)
            print_quiet('single-node measurement', figures['quiet'])
            print_disturbed(figures['disturbed'])
            sys.stdout.flush()
        if 'fleet' in args.parts:
            rounds, quiet, disturbed = [], [], []
            for index in range(fleet_repeat):
                outcome = {}
                for mode in (('pull', 'push') if index % 2 == 0 else ('push', 'pull')):
                    outcome[mode] = (pull_fleet if mode == 'pull' else push_fleet)(bench, args.hosts, index, quiet, disturbed)
                rounds.append(outcome)
            print_fleet(rounds, args.hosts)
            print_quiet('fleet run', quiet)
            print_disturbed(disturbed)
            sys.stdout.flush()
        if 'publish' in args.parts:
            publish_second_key(bench)
    print('The script took %.1f min.' % ((time.monotonic() - started) / 60))
    return 0


if __name__ == '__main__':
    sys.exit(main())
