# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An S3 bucket (AWS or an S3-compatible service) as a store, through boto3.

boto3 is the one dependency outside the standard library, needed only where an s3:// store
is used (the controller that publishes, the node that fetches). Credentials come from the
task's options or boto3's standard chain (environment, shared config and profiles, instance
profile) and never appear in a result or an error.

amazon.aws's s3_object is not used: it compares ETags with MD5 sums (an ETag is no MD5 for
multipart or KMS objects), cannot write conditionally (content-addressed objects are created
with If-None-Match so a concurrent publisher cannot be overwritten), and a collection
dependency cannot be installed where Galaxy is unreachable.
"""

from .store import SMALL_OBJECT_LIMIT, Backend, NotInStore, StoreError, copy_limited

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    HAS_BOTO3 = True
except ImportError:
    HAS_BOTO3 = False

_NOT_FOUND = ('NoSuchKey', '404', 'NotFound')
_REFUSED = ('InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', '403',
            'AuthorizationHeaderMalformed', 'InvalidClientTokenId')
_WRITTEN_ALREADY = ('PreconditionFailed', '412', 'ConditionalRequestConflict', '409')


class _WrittenAlready(StoreError):
    """A create-only write found the object there: another publisher wrote the same content address."""


class S3Backend(Backend):
    writable = True

    def __init__(self, url, bucket, prefix, params):
        super(S3Backend, self).__init__(url)
        if not HAS_BOTO3:
            raise StoreError('the store %s is an S3 bucket, and boto3 is not installed for %s: install boto3 (pip install '
                             'boto3) on this host, or use a file:// or https:// store' % (url, _interpreter()))
        if not bucket:
            raise StoreError('store %r names no bucket: use s3://bucket/prefix' % url)
        self.bucket = bucket
        self.prefix = prefix
        options = dict(region_name=params.get('region') or None, endpoint_url=params.get('endpoint_url') or None,
                       aws_access_key_id=params.get('access_key') or None,
                       aws_secret_access_key=params.get('secret_key') or None,
                       aws_session_token=params.get('session_token') or None)
        verify = params.get('ca_path') or params.get('validate_certs', True)
        timeout = params.get('timeout') or 60
        try:
            session = boto3.session.Session(profile_name=params.get('profile') or None)
            self._client = session.client(
                's3', verify=verify, config=Config(connect_timeout=timeout, read_timeout=timeout,
                                                   retries={'max_attempts': 3, 'mode': 'standard'}),
                **dict((k, v) for k, v in options.items() if v is not None))
        except BotoCoreError as exc:
            raise StoreError('cannot use the store %s: %s' % (url, _safe(exc)))

    def _key(self, name):
        return '%s/%s' % (self.prefix, name) if self.prefix else name

    def _call(self, operation, name, **kwargs):
        self.requests += 1
        try:
            return getattr(self._client, operation)(Bucket=self.bucket, Key=self._key(name), **kwargs)
        except NoCredentialsError:
            raise StoreError('no AWS credentials for the store %s: give the task access_key and secret_key, a profile, '
                             'the AWS_* environment variables, or run where an instance profile applies' % self.url)
        except ClientError as exc:
            code = str(exc.response.get('Error', {}).get('Code', ''))
            if code in _WRITTEN_ALREADY and operation == 'put_object':
                raise _WrittenAlready(name)
            if code in _NOT_FOUND:
                raise NotInStore('%s is not in the store' % self.locate(name))
            if code == 'NoSuchBucket':
                raise StoreError('the bucket %s does not exist at %s: create it, or correct the store URL, region or '
                                 'endpoint_url' % (self.bucket, self._client.meta.endpoint_url))
            if code in _REFUSED:
                raise StoreError('the store %s refused the credentials (%s) for %s %s: check the access key, secret key or '
                                 'profile, and that they may %s this bucket'
                                 % (self.url, code, operation, name, 'write to' if operation == 'put_object' else 'read'))
            raise StoreError('the store %s answered %s to %s %s: %s'
                             % (self.url, code or 'an error', operation, name, _safe(exc)))
        except BotoCoreError as exc:
            raise StoreError('cannot reach the store %s (%s): check that this host reaches %s, then run again'
                             % (self.url, _safe(exc), self._client.meta.endpoint_url))

    def read(self, name, limit=SMALL_OBJECT_LIMIT):
        body = self._call('get_object', name)['Body']
        try:
            data = body.read(limit + 1)
        except (BotoCoreError, IOError, OSError) as exc:
            raise StoreError('the transfer of %s broke off (%s): run again' % (self.locate(name), _safe(exc)))
        if len(data) > limit:
            raise StoreError('%s is larger than %d bytes: not an object this store should hold' % (self.locate(name), limit))
        return data

    def download(self, name, path, limit):
        body = self._call('get_object', name)['Body']
        try:
            return copy_limited(body, path, limit)
        except (BotoCoreError, IOError, OSError) as exc:
            raise StoreError('the transfer of %s broke off (%s): run again' % (self.locate(name), _safe(exc)))

    def exists(self, name):
        try:
            self._call('head_object', name)
        except NotInStore:
            return False
        return True

    def upload(self, name, path):
        if self.exists(name):
            return False
        try:
            with open(path, 'rb') as body:
                # If-None-Match: a content address is written once; a concurrent publisher's copy is the same bytes.
                self._call('put_object', name, Body=body, IfNoneMatch='*')
        except _WrittenAlready:
            return False
        return True

    def write(self, name, data):
        self._call('put_object', name, Body=data, ContentType='application/json', CacheControl='no-cache')


def _safe(exc):
    """An exception's message; botocore never puts secret keys into its messages."""
    return str(exc).strip() or type(exc).__name__


def _interpreter():
    import sys
    return sys.executable
