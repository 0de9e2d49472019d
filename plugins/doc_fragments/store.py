# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The options of the modules that read or write an artifact store.
    DOCUMENTATION = r'''
options:
  store:
    description:
      - The store, as a URL.
      - C(s3://bucket/prefix) is an S3 bucket (AWS, or an S3-compatible service with O(endpoint_url)),
        through boto3 on the host that runs the task.
      - C(file:///path) is a directory, for example on removable media. Any web server can serve it as is.
      - C(https://host/path) (or C(http://)) is such a tree behind a web server or CDN, read only.
      - Whatever the transport, every object is checked against its sha256 before it is used; the
        server's ETags and checksums are never trusted.
    type: str
    required: true
  channel:
    description:
      - The channel. One pointer per channel and environment key names the cache it serves.
      - Moving a pointer (publishing another cache, or an older one, to the channel) moves every
        node that pulls from it.
    type: str
    default: stable
  endpoint_url:
    description:
      - URL of an S3-compatible endpoint, or of a VPC endpoint. Only for C(s3://) stores.
      - Defaults to boto3's own choice (C(AWS_ENDPOINT_URL), the shared config, or AWS itself).
    type: str
    aliases: [aws_endpoint_url]
  region:
    description:
      - AWS region of the bucket. Only for C(s3://) stores; defaults to boto3's standard chain.
    type: str
    aliases: [aws_region]
  profile:
    description:
      - Profile of the shared AWS configuration to use. Only for C(s3://) stores.
    type: str
    aliases: [aws_profile]
  access_key:
    description:
      - AWS access key ID. Only for C(s3://) stores.
      - Leave unset to use boto3's standard credential chain (environment, shared configuration,
        instance profile), the recommended way. Never shown in results or errors.
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - AWS secret access key, with O(access_key). Never shown in results or errors.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - AWS session token for temporary credentials. Never shown in results or errors.
    type: str
    aliases: [aws_session_token]
  validate_certs:
    description:
      - Whether to validate TLS certificates of the store (C(https://), or the S3 endpoint).
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle to validate the store's certificate with.
    type: path
  timeout:
    description:
      - Seconds to wait for the store to answer one request.
    type: int
    default: 60
'''
