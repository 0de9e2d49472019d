# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pull mode on offline hosts: caches published to a store, nodes that fetch and install alone.

The S3 store is moto's server on the VPC-endpoint address, the https-style store a plain web server
on the same address; the hosts reach that address and nothing else. Each node runs
`ansible-playbook -c local airgap.packages.pull` on itself, from the node image (tests/harness/node_image.py);
the controller only builds and publishes, before the nodes start.
"""

import concurrent.futures
import json
import os
import shlex
import threading
import uuid

import pytest

from hosts import HostFleet
from node_image import PullNode
from runner import REPO, Ansible, local_tasks
from sources import make_wheel
from storeserver import StoreWebServer

pytestmark = pytest.mark.integration

PUBLISH = os.path.join(REPO, 'playbooks', 'publish.yml')
VENV = '/opt/pull-test/venv'
GEM_HOME = '/opt/pull-test/gems'
STAGE = '/var/cache/airgap-pull-test'
FETCH_PYTHON = "Fetch the wheel cache of this node's Python key from the store"
FETCH_GEMS = "Fetch the gem cache of this node's Ruby key from the store"
SUMMARY = 'Report what this host received and what changed'


def node_vars(store, python=None, gems=None, **extra):
    variables = {
        'offline_install_python': [{'venv': VENV, 'requirements': python}] if python else [],
        'offline_install_gems': gems or [],
        'offline_install_gem_install_dir': GEM_HOME,
        'offline_install_stage_dir': STAGE,
        'offline_install_store': store,
    }
    variables.update(extra)
    return variables


def s3_options(s3_endpoint):
    return {'endpoint_url': s3_endpoint.url, 'region': 'us-east-1'}


def assert_nothing_staged_or_installed(node):
    """No venv, no GEM_HOME, no digest directory and no leftover under the stage: the failed run left nothing."""
    # Depth 2: what is inside <stage>/python and <stage>/ruby (their lock files sit beside them, at depth 1).
    listed = node.sh('find %s -mindepth 2 -maxdepth 2 2>/dev/null; test -e %s && echo venv; test -e %s && echo gems; true'
                     % (STAGE, VENV, GEM_HOME))
    assert listed.stdout.split() == [], listed.stdout


def failed_message(run):
    failed = [task['result'] for task in run.tasks if task['status'] == 'failed']
    assert failed, run
    return failed[0]['msg']


@pytest.fixture(scope='module')
def bucket(s3_endpoint):
    return s3_endpoint.create_bucket('airgap-pull-%s' % uuid.uuid4().hex[:12])


@pytest.fixture(scope='module')
def platform(offline_hosts, fleet_ansible):
    """The airgap_platform fact of a host of the image's kind (every test host runs this machine's root)."""
    host = offline_hosts.names[0]
    return fleet_ansible.module(host, 'airgap.packages.platform_facts')[host]['ansible_facts']['airgap_platform']


@pytest.mark.pypi
def test_nodes_started_after_one_publish_pull_real_packages_from_s3_concurrently_and_alone(
        tmp_path_factory, node_image, s3_endpoint, bucket, gem_source):
    store = 's3://%s/fleet' % bucket
    store_options = s3_options(s3_endpoint)
    python, gems = ['six==1.17.0', 'PyYAML==6.0.2'], ['airgap_native', 'airgap_chain_a']
    variables = node_vars(store, python, gems, offline_install_store_options=store_options)
    credentials = s3_endpoint.credentials
    env = {'AWS_ACCESS_KEY_ID': credentials['aws_access_key_id'], 'AWS_SECRET_ACCESS_KEY': credentials['aws_secret_access_key']}
    # The connected side asks one host of the image's kind for its platform, publishes, and the host goes.
    describer = HostFleet(str(tmp_path_factory.mktemp('describer')))
    try:
        describer.start(1)
        published = Ansible(inventory=describer.inventory, env=env).playbook(PUBLISH, extra_vars=dict(
            variables, offline_install_gem_sources=[gem_source.url], offline_install_include_installers=False,
            offline_install_cache_dir=str(tmp_path_factory.mktemp('pull-caches'))))
    finally:
        describer.stop()
    assert published.rc == 0, published

    fleet = HostFleet(str(tmp_path_factory.mktemp('autoscaled')))
    try:
        fleet.start(5, reach=[s3_endpoint.address])
        reader = s3_endpoint.credentials_of('reader') if s3_endpoint.authenticated else credentials
        nodes = [PullNode(fleet, name, node_image, reader) for name in fleet.names]
        for node in nodes:
            node.write_vars(variables)
        before = len(s3_endpoint.requests())
        with concurrent.futures.ThreadPoolExecutor(len(nodes)) as pool:
            first = dict(zip(fleet.names, pool.map(lambda node: node.pull(), nodes)))
        for name, run in first.items():
            assert run.rc == 0, (name, run)
            assert run.results(FETCH_PYTHON)['localhost']['downloaded_bytes'] > 0
        for node in nodes:
            imported = node.sh('%s/bin/python -c "import six, yaml; print(six.__version__, yaml.__with_libyaml__)"' % VENV)
            assert imported.stdout.split() == ['1.17.0', 'True'], imported.stderr
            required = node.sh('GEM_HOME=%s GEM_PATH=%s ruby -e \'require "airgap_native"; require "airgap_chain_a"; '
                               'puts AirgapNative.add(2, 3)\'' % (GEM_HOME, GEM_HOME))
            assert required.stdout.strip() == '5', required.stderr
            assert node.sh('timeout 5 python3 -c "import socket; socket.create_connection((\'pypi.org\', 443), 3)"'
                           ).returncode != 0
        assert len(s3_endpoint.requests()) > before

        before = len(s3_endpoint.requests())
        with concurrent.futures.ThreadPoolExecutor(len(nodes)) as pool:
            second = dict(zip(fleet.names, pool.map(lambda node: node.pull(), nodes)))
        requests = s3_endpoint.requests()[before:]
        for name, run in second.items():
            assert run.rc == 0 and run.total('changed') == 0, (name, run.stats)
            fetched = [run.results(FETCH_PYTHON)['localhost'], run.results(FETCH_GEMS)['localhost']]
            assert [(r['downloaded_bytes'], r['requests']) for r in fetched] == [(0, 1), (0, 1)]
        # Two pointer reads per node, and nothing else asked of the store.
        assert len(requests) == 2 * len(nodes), requests
        assert all(method == 'GET' and '/channels/stable/' in path for method, path, _status in requests), requests
    finally:
        fleet.stop()


# --- The fixture index and gem source: channel moves and bad inputs, hermetic -------------------------


@pytest.fixture(scope='module')
def fixture_caches(tmp_path_factory, platform, python_index, gem_source, ansible):
    """Two wheel caches (airgap-fixture-base 0.9.0, then 1.0.0) and a gem cache for the hosts' keys."""
    root = tmp_path_factory.mktemp('fixture-caches')
    caches = {}
    for version in ('0.9.0', '1.0.0'):
        results = local_tasks(ansible, root, [{'name': 'build', 'airgap.packages.wheel_cache': {
            'requirements': ['airgap-fixture-base==%s' % version], 'platforms': [platform['python']],
            'index_url': python_index.url, 'include_installers': False, 'dest': str(root / version)}}])
        caches[version] = results['build']['caches'][0]
    results = local_tasks(ansible, root, [{'name': 'build', 'airgap.packages.gem_cache': {
        'gems': ['airgap_chain_a'], 'platforms': [platform['ruby']], 'sources': [gem_source.url],
        'dest': str(root / 'gems')}}])
    caches['gems'] = results['build']['caches'][0]
    return caches


def publish(ansible, workdir, store, src=(), manifests=(), env=None, **options):
    args = dict(options, store=store, src=list(src), manifests=list(manifests))
    task = {'name': 'publish', 'airgap.packages.publish_cache': args}
    results = local_tasks(Ansible(env=env) if env else ansible, workdir, [task])
    return results['publish']


@pytest.fixture(scope='module')
def web_store(tmp_path_factory, vpc_endpoint):
    """A file:// store tree behind a plain web server on the endpoint address (an https:// store in production)."""
    root = tmp_path_factory.mktemp('web-store')
    server = StoreWebServer(str(root), state_dir=str(tmp_path_factory.mktemp('web-store-server')))
    server.start()
    yield root, server
    server.stop()


@pytest.fixture(scope='module')
def pull_fleet(tmp_path_factory, node_image, vpc_endpoint):
    # The node image exists before the hosts start: an overlay does not notice files added below it later.
    fleet = HostFleet(str(tmp_path_factory.mktemp('pull-fleet')))
    fleet.start(1, reach=[vpc_endpoint])
    yield fleet
    fleet.stop()


@pytest.fixture
def clean_nodes(pull_fleet, node_image, s3_endpoint):
    """The pull fleet's nodes with nothing staged or installed by an earlier test."""
    nodes = [PullNode(pull_fleet, name, node_image, s3_endpoint.credentials) for name in pull_fleet.names]
    for node in nodes:
        node.sh('rm -rf %s %s %s /etc/airgap' % (STAGE, VENV, os.path.dirname(VENV)))
    return nodes


def installed_base_version(node):
    shown = node.sh('%s/bin/python -c "import importlib.metadata as m; print(m.version(\'airgap-fixture-base\'))"' % VENV)
    return shown.stdout.strip()


def test_moving_the_channel_moves_the_node_and_moving_it_back_downloads_nothing(
        tmp_path, ansible, fixture_caches, web_store, clean_nodes):
    root, server = web_store
    store = 'file://%s/channel-move' % root
    old, new = fixture_caches['0.9.0'], fixture_caches['1.0.0']
    publish(ansible, tmp_path, store, [old['path']])
    node = clean_nodes[0]
    variables = node_vars(server.url + 'channel-move', ['airgap-fixture-base'])

    first = node.pull(variables)
    assert first.rc == 0, first
    assert first.results(FETCH_PYTHON)['localhost']['digest'] == old['digest']
    assert installed_base_version(node) == '0.9.0'

    moved = publish(ansible, tmp_path, store, [new['path']])
    assert moved['pointers'][0]['previous'] == old['digest']
    forward = node.pull()
    assert forward.rc == 0, forward
    fetched = forward.results(FETCH_PYTHON)['localhost']
    assert fetched['digest'] == new['digest'] and fetched['downloaded'] == ['airgap_fixture_base-1.0.0-py3-none-any.whl']
    assert installed_base_version(node) == '1.0.0'

    back = publish(ansible, tmp_path, store, manifests=[old['digest']])
    assert back['uploaded_bytes'] == 0 and back['pointers'][0]['changed']
    returned = node.pull()
    assert returned.rc == 0, returned
    fetched = returned.results(FETCH_PYTHON)['localhost']
    assert (fetched['digest'], fetched['downloaded_bytes'], fetched['requests']) == (old['digest'], 0, 1)
    assert installed_base_version(node) == '0.9.0'
    assert node.pull().total('changed') == 0


def test_republishing_unchanged_caches_uploads_nothing_and_a_second_key_only_what_differs(
        tmp_path, ansible, fixture_caches, s3_endpoint, bucket):
    env = {'AWS_ACCESS_KEY_ID': s3_endpoint.credentials['aws_access_key_id'],
           'AWS_SECRET_ACCESS_KEY': s3_endpoint.credentials['aws_secret_access_key']}
    store = 's3://%s/republish' % bucket
    first = publish(ansible, tmp_path, store, [fixture_caches['0.9.0']['path']], env=env, **s3_options(s3_endpoint))
    assert first['changed'] and first['uploaded_bytes'] > 0
    again = publish(ansible, tmp_path, store, [fixture_caches['0.9.0']['path']], env=env, **s3_options(s3_endpoint))
    assert (again['changed'], again['uploaded_bytes']) == (False, 0)


# --- Bad inputs: each refused with the culprit named, nothing installed or half-staged ----------------


@pytest.fixture
def s3_case(tmp_path, ansible, fixture_caches, s3_endpoint, bucket):
    """A prefix of the bucket holding the fixture caches, published for this test alone."""
    prefix = 'case-%s' % uuid.uuid4().hex[:8]
    env = {'AWS_ACCESS_KEY_ID': s3_endpoint.credentials['aws_access_key_id'],
           'AWS_SECRET_ACCESS_KEY': s3_endpoint.credentials['aws_secret_access_key']}
    caches = [fixture_caches['0.9.0']['path'], fixture_caches['gems']['path']]
    publish(ansible, tmp_path, 's3://%s/%s' % (bucket, prefix), caches,
            env=env, **s3_options(s3_endpoint))
    variables = node_vars('s3://%s/%s' % (bucket, prefix), ['airgap-fixture-base'], ['airgap_chain_a'],
                          offline_install_store_options=s3_options(s3_endpoint))
    return prefix, variables


def test_an_artifact_altered_in_the_bucket_is_refused_and_nothing_is_installed(
        s3_case, s3_endpoint, bucket, fixture_caches, clean_nodes):
    prefix, variables = s3_case
    client = s3_endpoint.client()
    manifest = json.loads(client.get_object(Bucket=bucket, Key='%s/manifests/%s.json' % (
        prefix, fixture_caches['0.9.0']['digest']))['Body'].read())
    wheel = manifest['artifacts'][0]
    key = '%s/artifacts/sha256/%s/%s' % (prefix, wheel['sha256'][:2], wheel['sha256'])
    body = client.get_object(Bucket=bucket, Key=key)['Body'].read()
    client.put_object(Bucket=bucket, Key=key, Body=body[:-1] + bytes([body[-1] ^ 1]))
    node = clean_nodes[0]
    run = node.pull(variables)
    assert run.rc != 0
    message = failed_message(run)
    assert wheel['filename'] in message and wheel['sha256'] in message and 'altered' in message
    assert_nothing_staged_or_installed(node)


def test_a_manifest_that_does_not_match_its_digest_is_refused(s3_case, s3_endpoint, bucket, fixture_caches, clean_nodes):
    prefix, variables = s3_case
    client = s3_endpoint.client()
    name = '%s/manifests/%s.json' % (prefix, fixture_caches['0.9.0']['digest'])
    data = client.get_object(Bucket=bucket, Key=name)['Body'].read()
    client.put_object(Bucket=bucket, Key=name, Body=data.replace(b'"requirements":', b'"requirements" :'))
    node = clean_nodes[0]
    run = node.pull(variables)
    message = failed_message(run)
    assert fixture_caches['0.9.0']['digest'] in message and 'altered in the store' in message
    assert_nothing_staged_or_installed(node)


def test_a_pointer_naming_a_missing_manifest_is_refused(s3_case, s3_endpoint, bucket, fixture_caches, clean_nodes):
    prefix, variables = s3_case
    s3_endpoint.client().delete_object(Bucket=bucket, Key='%s/manifests/%s.json' % (prefix, fixture_caches['0.9.0']['digest']))
    node = clean_nodes[0]
    message = failed_message(node.pull(variables))
    assert 'has no manifest %s' % fixture_caches['0.9.0']['digest'] in message
    assert_nothing_staged_or_installed(node)


def test_a_key_missing_from_the_channel_names_the_key_and_the_keys_it_has(
        tmp_path, ansible, s3_endpoint, bucket, fixture_caches, platform, clean_nodes):
    prefix = 'gems-only-%s' % uuid.uuid4().hex[:8]
    env = {'AWS_ACCESS_KEY_ID': s3_endpoint.credentials['aws_access_key_id'],
           'AWS_SECRET_ACCESS_KEY': s3_endpoint.credentials['aws_secret_access_key']}
    publish(ansible, tmp_path, 's3://%s/%s' % (bucket, prefix), [fixture_caches['gems']['path']], env=env,
            **s3_options(s3_endpoint))
    node = clean_nodes[0]
    message = failed_message(node.pull(node_vars('s3://%s/%s' % (bucket, prefix), ['airgap-fixture-base'],
                                                 offline_install_store_options=s3_options(s3_endpoint))))
    assert platform['python']['key'] in message and 'python keys: none' in message
    assert_nothing_staged_or_installed(node)


def test_wrong_credentials_are_refused_and_never_shown(s3_case, s3_endpoint, clean_nodes):
    if not s3_endpoint.authenticated:
        pytest.fail('the S3 endpoint must authenticate for this test to mean anything')
    prefix, variables = s3_case
    node = clean_nodes[0]
    secret = 'wrong-secret-%s' % uuid.uuid4().hex
    node.credentials = {'aws_access_key_id': s3_endpoint.credentials['aws_access_key_id'], 'aws_secret_access_key': secret}
    run = node.pull(variables)
    message = failed_message(run)
    assert 'refused the credentials' in message
    assert secret not in run.stdout and secret not in run.stderr
    assert_nothing_staged_or_installed(node)


def test_a_bucket_that_does_not_exist_is_named(s3_endpoint, clean_nodes):
    node = clean_nodes[0]
    missing = 'airgap-no-such-bucket-%s' % uuid.uuid4().hex[:8]
    message = failed_message(node.pull(node_vars('s3://%s/x' % missing, ['airgap-fixture-base'],
                                                 offline_install_store_options=s3_options(s3_endpoint))))
    assert 'the bucket %s does not exist' % missing in message
    assert_nothing_staged_or_installed(node)


def test_the_store_stopped_mid_download_leaves_nothing_and_the_rerun_converges(
        tmp_path, tmp_path_factory, ansible, python_index, platform, clean_nodes):
    # A cache with one large artifact, served slowly enough to stop the server in the middle of it.
    python_index.add(make_wheel(str(tmp_path / 'big'), 'airgap-big', '1.0.0', payload=os.urandom(3 * 1024 * 1024)))
    results = local_tasks(ansible, tmp_path, [{'name': 'build', 'airgap.packages.wheel_cache': {
        'requirements': ['airgap-big==1.0.0'], 'platforms': [platform['python']], 'index_url': python_index.url,
        'include_installers': False, 'dest': str(tmp_path / 'cache')}}])
    root = tmp_path_factory.mktemp('slow-store')
    cache = results['build']['caches'][0]['path']
    publish(ansible, tmp_path, 'file://%s' % root, [cache])
    with open(os.path.join(cache, 'manifest.json')) as handle:
        sha256 = json.load(handle)['artifacts'][0]['sha256']
    server = StoreWebServer(str(root), state_dir=str(tmp_path / 'server'), throttle_bytes_per_second=512 * 1024)
    server.start()
    try:
        node = clean_nodes[0]
        node.write_vars(node_vars(server.url, ['airgap-big']))
        outcome = {}
        puller = threading.Thread(target=lambda: outcome.setdefault('run', node.pull()))
        puller.start()
        server.wait_started('/artifacts/sha256/%s/%s' % (sha256[:2], sha256))
        server.stop()
        puller.join(300)
        message = failed_message(outcome['run'])
        assert 'broke off' in message or 'cannot fetch' in message, message
        assert_nothing_staged_or_installed(node)

        server.start()
        rerun = node.pull()
        assert rerun.rc == 0, rerun
        assert node.sh('%s/bin/python -c "import airgap_big"' % VENV).returncode == 0
    finally:
        server.stop()


def test_a_pull_node_reaches_neither_the_controllers_python_index_nor_its_gem_source(clean_nodes, python_index, gem_source):
    node = clean_nodes[0]
    for url in (python_index.url, gem_source.url):
        probe = node.sh('python3 -c %s' % shlex.quote('import urllib.request; urllib.request.urlopen(%r, timeout=3)' % url))
        assert probe.returncode != 0
