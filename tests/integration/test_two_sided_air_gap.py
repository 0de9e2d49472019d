# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two-sided air gap as one flow, on real offline hosts.

The offline side describes its hosts into one file (describe.yml); the file is carried to the connected
side, which builds and publishes from it to a file:// store (build.yml, publish.yml) with an inventory of
localhost alone while the hosts' links are down; the caches and the store are carried back, and with the
controller's package sources stopped the hosts install from the caches (install.yml, push) and a node pulls
from the store (pull.yml, on the node itself), each converging on a second run.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from hosts import HostFleet, wait_for_port
from node_image import PullNode
from runner import REPO, Ansible
from storeserver import StoreWebServer

pytestmark = pytest.mark.integration

DESCRIBE = os.path.join(REPO, 'playbooks', 'describe.yml')
BUILD = os.path.join(REPO, 'playbooks', 'build.yml')
PUBLISH = os.path.join(REPO, 'playbooks', 'publish.yml')
INSTALL = os.path.join(REPO, 'playbooks', 'install.yml')
VENV = '/opt/two-sided/venv'
GEM_HOME = '/opt/two-sided/gems'
STAGE = '/var/cache/airgap-two-sided'
PUSHED = 'host1:host2'
NODE = 'host3'
WRITE_TASK = 'Write the platform descriptions of every host to the platforms file, atomically'
FETCH_PYTHON = "Fetch the wheel cache of this node's Python key from the store"
FETCH_GEMS = "Fetch the gem cache of this node's Ruby key from the store"
BUILD_PYTHON = 'Build one wheel cache per Python environment key'
BUILD_GEMS = 'Build one gem cache per Ruby environment key'
PUBLISH_TASK = "Publish the caches of these hosts' keys into the store, behind the channel's pointers"
IMPORT = 'import airgap_fixture_top, airgap_fixture_mid, importlib.metadata as m; print(m.version("airgap-fixture-top"))'
REQUIRE = 'require "airgap_chain_a"; require "airgap_chain_c"; puts Gem.loaded_specs["airgap_chain_a"].version'


# What both sides share (one vars file in real life); each side adds its own.
SHARED = {
    'offline_install_python': [{'venv': VENV, 'requirements': ['airgap-fixture-top==2.0.0']}],
    'offline_install_gems': ['airgap_chain_a'],
    'offline_install_gem_install_dir': GEM_HOME,
    'offline_install_stage_dir': STAGE,
}


def failed_messages(run):
    return [task['result']['msg'] for task in run.tasks if task['status'] == 'failed']


@pytest.fixture(scope='module')
def fleet(tmp_path_factory, node_image, vpc_endpoint):
    """The offline side: three hosts of one kind; host1 and host2 get pushed caches, host3 pulls for itself.

    The node image exists before the hosts start: an overlay does not notice files added below it later.
    The hosts reach the endpoint address (where the carried store is served) and nothing else.
    """
    hosts = HostFleet(str(tmp_path_factory.mktemp('two-sided-hosts')))
    hosts.start(3, reach=[vpc_endpoint])
    yield hosts
    hosts.stop()


@pytest.fixture(scope='module')
def sides(tmp_path_factory):
    """Two directories that share nothing but what a test carries between them."""
    return tmp_path_factory.mktemp('offline-side'), tmp_path_factory.mktemp('connected-side')


@pytest.fixture(scope='module')
def connected_inventory(sides):
    """The connected side's whole inventory: localhost, with the Python that has the controller's requirements."""
    path = sides[1] / 'inventory.ini'
    path.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    return str(path)


@pytest.fixture(scope='module')
def described(fleet, sides):
    """describe.yml run on the offline side, twice; returns both runs and the file."""
    ansible = Ansible(inventory=fleet.inventory)
    platforms = sides[0] / 'media' / 'platforms.json'
    platforms.parent.mkdir()
    variables = dict(SHARED, offline_install_platforms_file=str(platforms))
    first = ansible.playbook(DESCRIBE, extra_vars=variables)
    assert first.rc == 0, first
    content = platforms.read_bytes()
    second = ansible.playbook(DESCRIBE, extra_vars=variables)
    assert second.rc == 0, second
    return first, second, platforms, content


@contextlib.contextmanager
def unplugged(fleet, reachable):
    """Every host's link down, from inside its namespace: the controller has no way to reach any of them.

    The controller keeps its own end of each link, so what it might send stays on this machine.
    """
    for host in fleet.hosts:
        subprocess.run(['ip', 'netns', 'exec', host.netns, 'ip', 'link', 'set', 'eth0', 'down'], check=True)
    try:
        yield
    finally:
        for host in fleet.hosts:
            subprocess.run(['ip', 'netns', 'exec', host.netns, 'ip', 'link', 'set', 'eth0', 'up'], check=True)
        # A link that went down lost its routes: give the hosts their route to the endpoint again.
        fleet.reach(reachable)
        for host in fleet.hosts:
            wait_for_port(host.address, 22)


def unreachable(address):
    try:
        with socket.create_connection((address, 22), timeout=5):
            return False
    except OSError:
        return True


@pytest.fixture(scope='module')
def carried(fleet, sides, described, connected_inventory, python_index, gem_source, vpc_endpoint):
    """The connected side's work from the carried file, with the hosts out of reach; then what is carried back."""
    offline, connected = sides
    platforms = connected / 'media' / 'platforms.json'
    platforms.parent.mkdir()
    shutil.copy(str(described[2]), str(platforms))
    caches, store = connected / 'media' / 'caches', connected / 'media' / 'store'
    variables = dict(SHARED, offline_install_platforms_file=str(platforms), offline_install_cache_dir=str(caches),
                     offline_install_index_url=python_index.url, offline_install_gem_sources=[gem_source.url],
                     offline_install_include_installers=False, offline_install_store='file://%s' % store)
    # No shared ssh connection either (the offline side's runs left some open): were any host tried, the try
    # would fail within seconds on the missing route instead of waiting on a connection that went dead.
    ansible = Ansible(inventory=connected_inventory, env={'ANSIBLE_SSH_ARGS': '-o ControlPath=none -o ConnectTimeout=5'})
    with unplugged(fleet, vpc_endpoint):
        assert all(unreachable(host.address) for host in fleet.hosts)
        built = ansible.playbook(BUILD, extra_vars=variables)
        published = ansible.playbook(PUBLISH, extra_vars=variables)
    assert built.rc == 0, built
    assert published.rc == 0, published
    # As removable media would: a copy of both trees, on the other side of the gap.
    back = offline / 'media-back'
    shutil.copytree(str(caches), str(back / 'caches'))
    shutil.copytree(str(store), str(back / 'store'))
    return {'built': built, 'published': published, 'caches': back / 'caches', 'store': back / 'store'}


@pytest.fixture
def sources_stopped(python_index, gem_source):
    """The controller's Python index and gem source down for the test, up again after it on the same ports."""
    python_index.stop()
    gem_source.stop()
    try:
        yield
    finally:
        python_index.start()
        gem_source.start()


def test_describe_writes_one_file_with_every_host_sorted_and_a_second_run_changes_nothing(fleet, described):
    first, second, platforms, content = described
    assert first.results(WRITE_TASK)[fleet.names[0]]['changed'] is True
    assert second.total('changed') == 0, second.stats
    assert platforms.read_bytes() == content
    document = json.loads(content)
    assert sorted(document) == ['hosts', 'schema'] and document['schema'] == 1
    assert list(document['hosts']) == sorted(fleet.names)
    # Deterministic: exactly the canonical form of its own content, sorted keys and all.
    assert content.decode() == json.dumps(document, indent=2, sort_keys=True) + '\n'
    facts = Ansible(inventory=fleet.inventory).module(fleet.names[0], 'airgap.packages.platform_facts')
    platform = document['hosts'][fleet.names[0]]['airgap_platform']
    assert platform == facts[fleet.names[0]]['ansible_facts']['airgap_platform']
    assert platform['ruby']['key'] and platform['python']['key']
    # Written by the controller alone, as one file (no temporary file left beside it).
    assert os.listdir(str(platforms.parent)) == ['platforms.json']


def test_describe_writes_nothing_when_a_host_cannot_be_described(tmp_path, fleet):
    inventory = json.loads(open(fleet.inventory).read())
    # Nothing listens on port 9 of the loopback: the connection is refused at once, and never leaves this machine.
    inventory['all']['children']['offline']['hosts']['ghost'] = {'ansible_host': '127.0.0.1', 'ansible_port': 9}
    (tmp_path / 'inventory.json').write_text(json.dumps(inventory))
    platforms = tmp_path / 'platforms.json'
    run = Ansible(inventory=str(tmp_path / 'inventory.json')).playbook(DESCRIBE, extra_vars=dict(
        SHARED, offline_install_platforms_file=str(platforms)))
    assert run.rc != 0
    assert any('Not described (unreachable, or failed above): ghost.' in message and str(platforms) in message
               for message in failed_messages(run)), run
    assert not platforms.exists()


def test_build_and_publish_from_the_file_run_on_localhost_alone_and_build_once_per_key(fleet, described, carried):
    document = json.loads(described[3])
    python_keys = sorted(set(host['airgap_platform']['python']['key'] for host in document['hosts'].values()))
    ruby_keys = sorted(set(host['airgap_platform']['ruby']['key'] for host in document['hosts'].values()))
    for run in (carried['built'], carried['published']):
        assert set(task['host'] for task in run.tasks) == {'localhost'}
        assert list(run.stats) == ['localhost']
        assert not any(task['action'].endswith(('host_state', 'platform_facts')) for task in run.tasks)
    built = carried['built']
    assert [cache['key'] for cache in built.results(BUILD_PYTHON)['localhost']['caches']] == python_keys
    assert [cache['key'] for cache in built.results(BUILD_GEMS)['localhost']['caches']] == ruby_keys
    assert len(document['hosts']) == 3 and len(python_keys) == 1
    published = carried['published']
    assert published.results(BUILD_PYTHON)['localhost']['changed'] is False
    pointers = published.results(PUBLISH_TASK)['localhost']['pointers']
    assert sorted((pointer['ecosystem'], pointer['key']) for pointer in pointers) == sorted(
        [('python', key) for key in python_keys] + [('ruby', key) for key in ruby_keys])
    for key in python_keys:
        assert (carried['store'] / 'channels' / 'stable' / 'python' / ('%s.json' % key)).is_file()


def test_install_from_the_carried_caches_with_no_source_reachable_installs_and_converges(fleet, carried, sources_stopped):
    variables = dict(SHARED, offline_install_cache_dir=str(carried['caches']))
    ansible = Ansible(inventory=fleet.inventory)
    first = ansible.playbook(INSTALL, extra_vars=variables, limit=PUSHED)
    assert first.rc == 0, first
    assert first.total('changed') > 0
    for name in PUSHED.split(':'):
        imported = fleet.run(name, [VENV + '/bin/python', '-c', IMPORT])
        assert imported.stdout.strip() == '2.0.0', imported.stderr
        required = fleet.run(name, ['env', 'GEM_HOME=' + GEM_HOME, 'GEM_PATH=' + GEM_HOME, 'ruby', '-e', REQUIRE])
        assert required.returncode == 0 and required.stdout.strip(), required.stderr
    second = ansible.playbook(INSTALL, extra_vars=variables, limit=PUSHED)
    assert second.rc == 0, second
    assert second.total('changed') == 0, second.stats


def test_a_node_pulls_from_the_carried_store_with_no_source_reachable_and_converges(
        tmp_path, fleet, node_image, carried, sources_stopped, python_index, gem_source):
    node = PullNode(fleet, NODE, node_image)
    for url in (python_index.url, gem_source.url):
        probe = node.sh('python3 -c "import urllib.request; urllib.request.urlopen(%r, timeout=3)"' % url)
        assert probe.returncode != 0
    server = StoreWebServer(str(carried['store']), state_dir=str(tmp_path / 'store-server'))
    server.start()
    try:
        variables = dict(SHARED, offline_install_store=server.url)
        first = node.pull(variables)
        assert first.rc == 0, first
        assert first.results(FETCH_PYTHON)['localhost']['downloaded_bytes'] > 0
        imported = node.sh('%s/bin/python -c %r' % (VENV, IMPORT))
        assert imported.stdout.strip() == '2.0.0', imported.stderr
        required = node.sh("GEM_HOME=%s GEM_PATH=%s ruby -e '%s'" % (GEM_HOME, GEM_HOME, REQUIRE))
        assert required.returncode == 0 and required.stdout.strip(), required.stderr
        before = len(server.requests())
        second = node.pull()
        assert second.rc == 0, second
        assert second.total('changed') == 0, second.stats
        fetched = [second.results(FETCH_PYTHON)['localhost'], second.results(FETCH_GEMS)['localhost']]
        assert [(result['downloaded_bytes'], result['requests']) for result in fetched] == [(0, 1), (0, 1)]
        # One pointer read per ecosystem, and nothing else asked of the store.
        reads = server.requests()[before:]
        assert len(reads) == 2 and all('/channels/stable/' in path for _method, path, _status, _bytes in reads), reads
    finally:
        server.stop()
    # The same tree as removable media mounted on the node, a file:// store: the node holds its caches already.
    fleet.push_dir(NODE, str(carried['store']), '/media/airgap-store')
    mounted = node.pull(dict(SHARED, offline_install_store='file:///media/airgap-store'))
    assert mounted.rc == 0, mounted
    assert mounted.total('changed') == 0, mounted.stats


# --- Bad platforms files: refused before anything is built, naming the file and the remedy -----------


def build_from(connected_inventory, tmp_path, platforms, playbook=BUILD, **extra):
    variables = dict(SHARED, offline_install_platforms_file=str(platforms), offline_install_cache_dir=str(tmp_path / 'caches'),
                     offline_install_store='file://%s' % (tmp_path / 'store'), **extra)
    run = Ansible(inventory=connected_inventory).playbook(playbook, extra_vars=variables)
    assert run.rc != 0, run
    assert not (tmp_path / 'caches').exists() and not (tmp_path / 'store').exists()
    return failed_messages(run)[-1]


@pytest.mark.parametrize('playbook', [BUILD, PUBLISH], ids=['build', 'publish'])
def test_a_missing_platforms_file_is_named_with_the_remedy(tmp_path, connected_inventory, playbook):
    platforms = tmp_path / 'media' / 'platforms.json'
    message = build_from(connected_inventory, tmp_path, platforms, playbook)
    assert 'The platforms file %s (offline_install_platforms_file) does not exist' % platforms in message
    assert 'playbooks/describe.yml' in message


def test_a_platforms_file_cut_short_is_refused_as_not_json(tmp_path, connected_inventory, described):
    platforms = tmp_path / 'platforms.json'
    platforms.write_bytes(described[3][:len(described[3]) // 2])
    message = build_from(connected_inventory, tmp_path, platforms)
    assert 'The platforms file %s (offline_install_platforms_file) is not JSON' % platforms in message
    assert 'line ' in message and 'Write it again on the offline side with playbooks/describe.yml' in message


def test_json_that_describe_did_not_write_is_refused(tmp_path, connected_inventory):
    platforms = tmp_path / 'platforms.json'
    platforms.write_text('{"host1": {"python": {}}}')
    message = build_from(connected_inventory, tmp_path, platforms)
    assert 'The platforms file %s (offline_install_platforms_file) is not one that playbooks/describe.yml writes' % platforms in message


def test_hosts_without_a_python_description_are_named(tmp_path, connected_inventory, described):
    document = json.loads(described[3])
    del document['hosts']['host1']['airgap_platform']['python']
    document['hosts']['host3']['airgap_platform']['python'] = {'version': '3.11'}
    platforms = tmp_path / 'platforms.json'
    platforms.write_text(json.dumps(document))
    message = build_from(connected_inventory, tmp_path, platforms)
    assert 'has no Python description (airgap_platform.python with its key) for host1, host3.' in message
    assert str(platforms) in message and 'playbooks/describe.yml' in message


def test_a_file_described_without_gems_is_refused_when_gems_are_asked_for(tmp_path, fleet, connected_inventory):
    platforms = tmp_path / 'python-only.json'
    run = Ansible(inventory=fleet.inventory).playbook(DESCRIBE, extra_vars=dict(
        SHARED, offline_install_gems=[], offline_install_platforms_file=str(platforms)))
    assert run.rc == 0, run
    hosts = json.loads(platforms.read_text())['hosts']
    assert [hosts[name]['airgap_platform']['ruby'] for name in fleet.names] == [None] * len(fleet.names)
    message = build_from(connected_inventory, tmp_path, platforms)
    assert 'has no Ruby description (airgap_platform.ruby with its key) for host1, host2, host3, yet gems are asked for' in message
    assert 'offline_install_gems' in message and str(platforms) in message
