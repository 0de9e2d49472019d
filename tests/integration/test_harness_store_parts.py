# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts that pull-mode tests stand on behave as those tests rely on: the endpoint address is all
that a host reaches, the store web server really dies mid-transfer, the S3 endpoint refuses wrong keys
and honours conditional writes, and the node image runs ansible-playbook on an offline host."""

import http.client
import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from hosts import HostFleet
from storeserver import StoreWebServer

pytestmark = pytest.mark.integration

# An address off this machine (the CDN in front of the public package index): a host must fail at once.
OUTSIDE = ('151.101.0.223', 443)
CONNECT = ('import socket, sys, time\n'
           'began = time.time()\n'
           'try:\n'
           '    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n'
           '    print("connected")\n'
           'except OSError as error:\n'
           '    print("%s %.2f" % (error.errno, time.time() - began))\n')


@pytest.fixture(scope='module')
def endpoint_hosts(node_image, vpc_endpoint, tmp_path_factory):
    """One host that reaches the endpoint address from its start; node_image first, so the hosts see it."""
    fleet = HostFleet(str(tmp_path_factory.mktemp('endpoint-hosts')))
    try:
        fleet.start(1, reach=(vpc_endpoint,), name_prefix='node')
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def store_tree(tmp_path):
    root = tmp_path / 'store'
    (root / 'objects').mkdir(parents=True)
    (root / 'objects' / 'big.bin').write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    (root / 'index.json').write_text(json.dumps({'objects': ['objects/big.bin']}))
    return root


@pytest.fixture
def store_server(store_tree, vpc_endpoint, tmp_path):
    server = StoreWebServer(str(store_tree), address=vpc_endpoint, state_dir=str(tmp_path / 'server'))
    yield server
    server.stop()


def _connect(fleet, name, address, port):
    return fleet.run(name, ['python3', '-c', CONNECT, address, str(port)], check=True).stdout.strip()


def test_a_host_reaches_the_endpoint_address_and_nothing_else(endpoint_hosts, store_server, vpc_endpoint):
    store_server.start()
    name = endpoint_hosts.names[0]
    assert _connect(endpoint_hosts, name, vpc_endpoint, store_server.port) == 'connected'
    fetched = endpoint_hosts.run(name, ['python3', '-c', 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())',
                                        store_server.url + 'index.json'], check=True)
    assert json.loads(fetched.stdout) == {'objects': ['objects/big.bin']}
    errno, seconds = _connect(endpoint_hosts, name, *OUTSIDE).split()
    assert errno == '101' and float(seconds) < 1, 'ENETUNREACH at once, got errno %s after %s s' % (errno, seconds)
    routes = endpoint_hosts.run(name, ['ip', 'route', 'show'], check=True).stdout
    assert 'default' not in routes and '%s via' % vpc_endpoint in routes, routes


def test_a_host_started_later_by_the_fleet_gets_the_route_too(endpoint_hosts, vpc_endpoint):
    later = endpoint_hosts.start(1, name_prefix='node')[0]
    assert HostFleet(endpoint_hosts.state_dir).reachable == [vpc_endpoint]
    routes = endpoint_hosts.run(later.name, ['ip', 'route', 'show', '%s/32' % vpc_endpoint], check=True).stdout
    assert 'via %s' % later.gateway in routes, routes


def test_reach_refuses_an_address_that_is_not_on_this_machine(endpoint_hosts):
    with pytest.raises(RuntimeError, match='not assigned on this machine'):
        endpoint_hosts.reach(OUTSIDE[0])


def test_the_store_server_killed_mid_download_leaves_the_client_a_short_read(store_server):
    store_server.throttle_bytes_per_second = 256 * 1024
    store_server.start()
    connection = http.client.HTTPConnection(store_server.address, store_server.port, timeout=10)
    connection.request('GET', '/objects/big.bin')
    response = connection.getresponse()
    assert response.status == 200 and response.length == 1024 * 1024
    head = response.read(64 * 1024)
    store_server.wait_started('/objects/big.bin')
    store_server.stop()
    with pytest.raises(http.client.IncompleteRead) as short:
        response.read()
    assert len(head) + len(short.value.partial) < 1024 * 1024
    assert ('GET', '/objects/big.bin') in store_server.started()
    assert store_server.requests() == [], 'a transfer cut off by the kill has no done line'

    store_server.throttle_bytes_per_second = None
    store_server.start()
    body = urllib.request.urlopen(store_server.url + 'objects/big.bin', timeout=10).read()
    assert len(body) == 1024 * 1024, 'the same URL works again after a restart'
    assert store_server.requests() == [('GET', '/objects/big.bin', 200, 1024 * 1024)]


def test_the_throttled_store_server_sends_at_about_its_rate(store_server):
    store_server.throttle_bytes_per_second = 2 * 1024 * 1024
    store_server.start()
    began = time.monotonic()
    body = urllib.request.urlopen(store_server.url + 'objects/big.bin', timeout=10).read()
    seconds = time.monotonic() - began
    assert len(body) == 1024 * 1024
    assert 0.4 < seconds < 1.5, '1 MiB at 2 MiB/s took %.2f s' % seconds


def test_the_store_server_answers_404_for_missing_files_directories_and_escapes(store_server):
    store_server.start()
    for path in ('missing.json', 'objects/', 'objects', '../store/index.json', '%2e%2e/%2e%2e/etc/passwd'):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(store_server.url + path, timeout=10)
        assert refused.value.code == 404, path
    ranged = urllib.request.Request(store_server.url + 'objects/big.bin', headers={'Range': 'bytes=1000-'})
    with urllib.request.urlopen(ranged, timeout=10) as response:
        assert response.status == 206 and len(response.read()) == 1024 * 1024 - 1000


def test_the_s3_endpoint_refuses_wrong_credentials(s3_endpoint):
    bucket = s3_endpoint.create_bucket('refuses-wrong-keys')
    s3_endpoint.client().put_object(Bucket=bucket, Key='index.json', Body=b'{}')
    good = s3_endpoint.credentials
    wrong_secret = dict(good, aws_secret_access_key='x' * 40)
    unknown_key = {'aws_access_key_id': 'AKIAIOSFODNN7EXAMPLE', 'aws_secret_access_key': good['aws_secret_access_key']}
    for credentials, code in ((wrong_secret, 'SignatureDoesNotMatch'), (unknown_key, 'InvalidAccessKeyId')):
        with pytest.raises(ClientError) as refused:
            s3_endpoint.client(**credentials).get_object(Bucket=bucket, Key='index.json')
        assert refused.value.response['Error']['Code'] == code
        assert refused.value.response['ResponseMetadata']['HTTPStatusCode'] == 403
    reader = s3_endpoint.client(**s3_endpoint.credentials_of('reader'))
    assert reader.get_object(Bucket=bucket, Key='index.json')['Body'].read() == b'{}'
    with pytest.raises(ClientError) as denied:
        reader.put_object(Bucket=bucket, Key='index.json', Body=b'overwritten')
    assert denied.value.response['Error']['Code'] == 'AccessDenied'
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen('%s/%s/index.json' % (s3_endpoint.url, bucket), timeout=10)
    assert anonymous.value.code == 403


def test_the_s3_endpoint_honours_conditional_writes_and_delimited_listing(s3_endpoint):
    bucket = s3_endpoint.create_bucket('conditional-writes')
    client = s3_endpoint.client()
    before = len(s3_endpoint.requests())
    client.put_object(Bucket=bucket, Key='caches/a/manifest.json', Body=b'1', IfNoneMatch='*')
    with pytest.raises(ClientError) as exists:
        client.put_object(Bucket=bucket, Key='caches/a/manifest.json', Body=b'2', IfNoneMatch='*')
    assert exists.value.response['Error']['Code'] == 'PreconditionFailed'
    etag = client.head_object(Bucket=bucket, Key='caches/a/manifest.json')['ETag']
    with pytest.raises(ClientError) as stale:
        client.put_object(Bucket=bucket, Key='caches/a/manifest.json', Body=b'3', IfMatch='"%s"' % ('0' * 32))
    assert stale.value.response['ResponseMetadata']['HTTPStatusCode'] == 412
    client.put_object(Bucket=bucket, Key='caches/a/manifest.json', Body=b'4', IfMatch=etag)
    assert client.get_object(Bucket=bucket, Key='caches/a/manifest.json')['Body'].read() == b'4'
    client.put_object(Bucket=bucket, Key='caches/b/manifest.json', Body=b'5')
    client.put_object(Bucket=bucket, Key='caches/top.json', Body=b'6')
    listed = client.list_objects_v2(Bucket=bucket, Prefix='caches/', Delimiter='/')
    assert [entry['Key'] for entry in listed['Contents']] == ['caches/top.json']
    assert [entry['Prefix'] for entry in listed['CommonPrefixes']] == ['caches/a/', 'caches/b/']
    assert [(method, status) for method, _path, status in s3_endpoint.requests()[before:]] == [
        ('PUT', 200), ('PUT', 412), ('HEAD', 200), ('PUT', 412), ('PUT', 200), ('GET', 200), ('PUT', 200), ('PUT', 200), ('GET', 200)]


def test_a_node_reads_the_s3_endpoint_with_the_node_image_and_still_cannot_reach_the_index(endpoint_hosts, node_image, s3_endpoint):
    bucket = s3_endpoint.create_bucket('node-reads')
    s3_endpoint.client().put_object(Bucket=bucket, Key='index.json', Body=b'{"caches": []}')
    name = endpoint_hosts.names[0]
    code = ('import sys, boto3, ansible\n'
            'client = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",'
            ' aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])\n'
            'print(client.get_object(Bucket=sys.argv[4], Key="index.json")["Body"].read().decode())\n')
    reader = s3_endpoint.credentials_of('reader')
    read = endpoint_hosts.run(name, [node_image.python, '-c', code, s3_endpoint.url, reader['aws_access_key_id'],
                                     reader['aws_secret_access_key'], bucket], check=True)
    assert json.loads(read.stdout) == {'caches': []}
    pip = endpoint_hosts.run(name, [node_image.python, '-m', 'pip', 'download', '--no-cache-dir', '--retries', '0',
                                    '--timeout', '5', '-d', '/tmp/dl', 'six'])
    assert pip.returncode != 0, pip.stdout


def test_pull_argv_runs_ansible_playbook_with_the_collection_on_an_offline_host(endpoint_hosts, node_image):
    name = endpoint_hosts.names[0]
    version = endpoint_hosts.run(name, [node_image.ansible_playbook, '--version'], check=True).stdout
    assert 'core 2.19.14' in version and node_image.python in version, version
    checked = endpoint_hosts.run(name, node_image.pull_argv('airgap.packages.build') + ['--syntax-check'])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert node_image.pull_argv(extra_vars_file='/etc/airgap/pull.json')[-3:] == ['airgap.packages.pull', '-e', '@/etc/airgap/pull.json']
