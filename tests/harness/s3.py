# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real S3 API server process for pull-mode tests: moto's server on the endpoint address.

No real S3 server can be installed here; moto's server speaks the S3 REST API over HTTP (path-style
buckets, ETags, Range, conditional writes, list_objects_v2 with Prefix/Delimiter). It is not faithful
everywhere: it accepts a tampered presigned signature and a wrong ChecksumSHA256, so a test must never
rely on the server to check integrity.

Authentication: by default moto accepts any credentials. With INITIAL_NO_AUTH_ACTION_COUNT=N in its
environment it lets the first N actions through unchecked and then verifies every request's signature
against access keys made through its own IAM API, and each action against the user's policies. So
S3Endpoint(authenticated=True) starts moto with N = the IAM calls that create its users, makes them,
and checks that an unknown key is refused before it hands the endpoint out. An unknown key is refused
with InvalidAccessKeyId, a wrong secret with SignatureDoesNotMatch, an action outside the user's
policy with AccessDenied, an unsigned request with 403. (moto's /moto-api/ paths stay open: anything
that can reach the server can reset it. Only tests reach it.)

moto keeps everything in memory: stop() and start() again give an empty server on the same URL, with
no bucket and new access keys (credentials then answers the new ones).
"""

import json
import os
import re
import subprocess
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from endpoint import ENDPOINT_ADDRESS, free_port, stop_process, wait_for_listener

MOTO_SERVER = os.path.join(os.path.dirname(sys.executable), 'moto_server')
REGION = 'us-east-1'
# Any credentials do for an endpoint that does not authenticate; boto3 must never look for others
# (its default chain ends at the instance metadata address, off this machine).
ANONYMOUS = {'aws_access_key_id': 'testing', 'aws_secret_access_key': 'testing'}
# name -> the S3 actions its policy allows. `store` publishes; `reader` is what a pull node holds.
DEFAULT_USERS = {'store': ('s3:*',), 'reader': ('s3:GetObject', 's3:ListBucket')}
# create_user, create_policy, attach_user_policy, create_access_key
IAM_CALLS_PER_USER = 4
_REQUEST = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) ')
_ANSI = re.compile(r'\x1b\[[0-9;]*m')


class S3Endpoint:
    """moto_server -H address -p port as a child process in its own session, logging to state_dir."""

    def __init__(self, state_dir, address=ENDPOINT_ADDRESS, port=None, authenticated=False, users=None):
        self.state_dir = os.path.abspath(state_dir)
        self.address = address
        self.port = port
        self.authenticated = authenticated
        self.users = dict(users or DEFAULT_USERS)
        self.user_credentials = {}
        self._process = None
        # (log path, how many of its request lines are the endpoint's own setup)
        self._logs = []

    @property
    def url(self):
        return 'http://%s:%d' % (self.address, self.port)

    @property
    def running(self):
        return self._process is not None and self._process.poll() is None

    @property
    def credentials(self):
        """Keys of the first user (`store`, allowed s3:*); anonymous ones when the endpoint does not authenticate."""
        if not self.authenticated:
            return dict(ANONYMOUS)
        return dict(self.user_credentials[next(iter(self.users))])

    def credentials_of(self, user):
        return dict(self.user_credentials[user])

    def start(self):
        if self.running:
            return self
        os.makedirs(self.state_dir, exist_ok=True)
        if self.port is None:
            self.port = free_port(self.address)
        # A log per server process: each begins with that process's own setup requests.
        number = 1
        while os.path.exists(os.path.join(self.state_dir, 'moto-%d.log' % number)):
            number += 1
        log = os.path.join(self.state_dir, 'moto-%d.log' % number)
        env = dict(os.environ)
        if self.authenticated:
            env['INITIAL_NO_AUTH_ACTION_COUNT'] = str(IAM_CALLS_PER_USER * len(self.users))
        else:
            env.pop('INITIAL_NO_AUTH_ACTION_COUNT', None)
        with open(log, 'ab') as output:
            self._process = subprocess.Popen([MOTO_SERVER, '-H', self.address, '-p', str(self.port)], stdin=subprocess.DEVNULL,
                                             stdout=output, stderr=output, env=env, start_new_session=True)
        try:
            wait_for_listener(self.address, self.port, self._process, log)
            setup = self._make_users() if self.authenticated else 0
        except BaseException:
            self.stop()
            raise
        self._logs.append((log, setup))
        return self

    def stop(self):
        stop_process(self._process)
        self._process = None

    def client(self, **credentials):
        """A boto3 S3 client for this endpoint; the `store` user's keys unless others are given."""
        return boto3.client('s3', endpoint_url=self.url, region_name=REGION, config=Config(s3={'addressing_style': 'path'}),
                            **(credentials or self.credentials))

    def create_bucket(self, name):
        self.client().create_bucket(Bucket=name)
        return name

    def requests(self):
        """(method, path, status) of every request since start(), the endpoint's own setup left out.

        moto logs a request as it begins the answer, so a request that a client has seen answered is here.
        """
        found = []
        for log, setup in self._logs:
            found.extend(_requests_in(log)[setup:])
        return found

    def _make_users(self):
        """Create the users through moto's IAM API (the unchecked actions), then prove a wrong key is refused."""
        iam = boto3.client('iam', endpoint_url=self.url, region_name=REGION, **ANONYMOUS)
        self.user_credentials = {}
        for user, actions in self.users.items():
            iam.create_user(UserName=user)
            document = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': list(actions), 'Resource': '*'}]}
            policy = iam.create_policy(PolicyName='%s-policy' % user, PolicyDocument=json.dumps(document))
            iam.attach_user_policy(UserName=user, PolicyArn=policy['Policy']['Arn'])
            key = iam.create_access_key(UserName=user)['AccessKey']
            self.user_credentials[user] = {'aws_access_key_id': key['AccessKeyId'], 'aws_secret_access_key': key['SecretAccessKey']}
        try:
            self.client(**ANONYMOUS).list_buckets()
        except ClientError as error:
            if error.response['Error']['Code'] != 'InvalidAccessKeyId':
                raise
        else:
            raise RuntimeError('moto accepted an unknown access key: INITIAL_NO_AUTH_ACTION_COUNT had no effect')
        return IAM_CALLS_PER_USER * len(self.users) + 1


def _requests_in(log):
    with open(log, errors='replace') as handle:
        text = _ANSI.sub('', handle.read())
    return [(method, path, int(status)) for method, path, status in _REQUEST.findall(text)]
