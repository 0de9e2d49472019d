#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: fetch_cache
short_description: Pull the cache of this node's environment key from a store, verified
version_added: 0.2.0
description:
  - Runs on the node itself (pull mode), for example from cloud-init user-data at boot, with no
    controller involved.
  - Reads the pointer of O(channel) for O(ecosystem) and O(key) from the store, then, unless the node
    already holds that cache, the manifest the pointer names, and only the artifacts the node lacks.
    Artifacts that another staged cache on the node already holds are copied from there.
  - The manifest is used only when the sha256 of its bytes is the digest the pointer names, and every
    artifact only when its size and sha256 match the manifest. The cache is assembled in a private
    directory and renamed to O(dest)/<digest>/ only once it verifies, exactly as
    M(airgap.packages.ship_cache) stages a pushed cache; an interrupted or altered download is never used.
  - A node that holds the named cache already makes one request (the pointer) and reports no change.
  - Staged digests beyond O(keep) are removed once the fetched one is in place.
  - Install from RV(path) with M(airgap.packages.pip_offline) or M(airgap.packages.gem_offline).
requirements:
  - boto3, on the node, for C(s3://) stores.
  - With O(trusted_keys), the pointer and the manifest must be signed by a trusted key, and a pointer older
    than one this node already followed (a replay) is refused; the sequence followed is kept under O(dest).
extends_documentation_fragment:
  - airgap.packages.attributes
  - airgap.packages.attributes.check_mode_full
  - airgap.packages.attributes.diff_mode_none
  - airgap.packages.attributes.store_group
  - airgap.packages.store
  - airgap.packages.signing.trust
options:
  ecosystem:
    description:
      - Which cache of the node to fetch.
    type: str
    required: true
    choices: [python, ruby]
  key:
    description:
      - The node's environment key for O(ecosystem), as M(airgap.packages.platform_facts) reports it
        (C(airgap_platform.python.key) or C(airgap_platform.ruby.key)).
    type: str
    required: true
  dest:
    description:
      - Staging root on the node; the cache lands in O(dest)/<digest>/. An absolute path.
      - Checked as M(airgap.packages.ship_cache) checks its O(airgap.packages.ship_cache#module:dest), before the
        store is asked. Refused when it, or anything below it on the way to a staged cache, is a symbolic link;
        when it or any directory above it is owned by anyone but root and the user the task runs as, or writable
        by anyone else (a sticky, world-writable directory such as C(/tmp) included). A link above it is followed
        when root or that user owns it, and the path it points to is checked the same way. Missing directories are
        created, mode 0700.
      - Before anything is downloaded, the free space of its filesystem is checked against the manifest and the
        artifacts; a shortfall is reported as required versus available.
    type: path
    default: /var/cache/airgap-packages
  keep:
    description:
      - How many staged digests to keep under O(dest), the fetched one included; at least 1. Keeping the previous
        cache makes a move back on the channel cost no download.
    type: int
    default: 2
  settled:
    description:
      - Digests that M(airgap.packages.host_state) reported, earlier in the same run, as caches this
        node is settled on (the C(settled) list of its C(python) or C(ruby) result).
      - When the pointer names one of them the task stops after the pointer request. The staged copy
        is not read again (host_state verified it in this run) and nothing is pruned.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    details: Reads the pointer and, when the node lacks the cache, the manifest; reports what would be downloaded.
  diff_mode:
    details: Nothing to show beyond the digest and the files downloaded.
  platform:
    details: Any POSIX host with Python 3; boto3 for C(s3://) stores.
author:
  - airgap.packages maintainers (@airgap-packages)
"""

EXAMPLES = r"""
- name: Describe this node
  airgap.packages.platform_facts:

- name: Pull this node's wheel cache from the bucket behind the VPC endpoint
  airgap.packages.fetch_cache:
    store: s3://example-artifacts/airgap
    endpoint_url: https://bucket.vpce-0abc-1234.s3.eu-west-1.vpce.amazonaws.com
    region: eu-west-1
    ecosystem: python
    key: "{{ ansible_facts.airgap_platform.python.key }}"
    dest: /var/cache/airgap-packages/python
  register: pulled

- name: Install from the pulled copy
  airgap.packages.pip_offline:
    cache: "{{ pulled.path }}"
    virtualenv: /opt/app/venv

- name: Pull the gem cache from the same tree served by a web server, on the canary channel
  airgap.packages.fetch_cache:
    store: https://mirror.example.internal/airgap
    channel: canary
    ecosystem: ruby
    key: "{{ ansible_facts.airgap_platform.ruby.key }}"
    dest: /var/cache/airgap-packages/ruby
"""

RETURN = r"""
path:
  description: Directory on the node that holds the verified cache.
  returned: success
  type: str
  sample: /var/cache/airgap-packages/python/3b1f0c0e6f3d9c7b4e1f3f4b2a8c5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8
digest:
  description: Digest of the manifest the channel's pointer names.
  returned: success
  type: str
  sample: 3b1f0c0e6f3d9c7b4e1f3f4b2a8c5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8
channel:
  description: The channel read.
  returned: success
  type: str
  sample: stable
ecosystem:
  description: The ecosystem of the cache.
  returned: success
  type: str
  sample: python
key:
  description: The environment key of the cache.
  returned: success
  type: str
  sample: cp311-manylinux_2_36-x86_64-e1a41873
sequence:
  description: Sequence number of the pointer; it grows each time the pointer moves.
  returned: success
  type: int
  sample: 3
settled:
  description: Whether the answer came from O(settled), after the pointer request alone.
  returned: success
  type: bool
  sample: true
fetched:
  description: Whether the cache was (or in check mode would be) staged by this task.
  returned: success
  type: bool
  sample: false
downloaded:
  description: File names of the artifacts downloaded from the store.
  returned: success
  type: list
  elements: str
  sample: [six-1.17.0-py2.py3-none-any.whl]
downloaded_bytes:
  description: Bytes of artifacts downloaded from the store by this task.
  returned: success
  type: int
  sample: 0
would_download_bytes:
  description: In check mode, the bytes of artifacts that would be downloaded.
  returned: in check mode, when the node lacks the cache
  type: int
  sample: 11053
resigned:
  description: Whether the node held the cache already and only its signature was replaced by the store's (after a key roll).
  returned: when that happened
  type: bool
  sample: true
reused:
  description: File names of the artifacts copied from other caches staged on the node instead of downloaded.
  returned: success
  type: list
  elements: str
  sample: []
requests:
  description: Requests made to the store (1 when the node already holds the cache).
  returned: success
  type: int
  sample: 1
pruned:
  description:
    - Names removed under O(dest), or to be removed in check mode, links left where a staged cache belongs
      included (the link itself is removed, never its target).
    - Staged digests beyond O(keep), and the unpacking directories (C(.incoming-*)) of runs that are gone; a
      run in progress holds the staging lock, and its directory is left to it.
  returned: success
  type: list
  elements: str
  sample: []
filesystems:
  description: When the free space check fails, the filesystem checked, with what it holds and the bytes required and available.
  returned: failure, when the filesystem lacks space
  type: list
  elements: dict
  contains:
    mount_point:
      description: Mount point of the filesystem.
      type: str
      returned: always
      sample: /var/cache
    holds:
      description: What the task would write there.
      type: list
      elements: str
      returned: always
      sample: [the staging directory /var/cache/airgap-packages/python]
    required_bytes:
      description: Bytes required there, counted in whole blocks.
      type: int
      returned: always
      sample: 73400320
    available_bytes:
      description: Bytes available there.
      type: int
      returned: always
      sample: 1048576
  sample: [{mount_point: /var/cache, holds: [the staging directory /var/cache/airgap-packages/python],
            required_bytes: 73400320, available_bytes: 1048576}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import TRUST_ARGUMENT_SPEC, trust_from
from ansible_collections.airgap.packages.plugins.module_utils._common.staging import DEFAULT_STAGE
from ansible_collections.airgap.packages.plugins.module_utils._common.store import STORE_ARGUMENT_SPEC, open_store
from ansible_collections.airgap.packages.plugins.module_utils._target.fetch_cache import FetchRequest, fetch_cache


def main():
    module = AnsibleModule(
        argument_spec=dict(
            STORE_ARGUMENT_SPEC,
            ecosystem=dict(type='str', required=True, choices=['python', 'ruby']),
            key=dict(type='str', required=True, no_log=False),
            dest=dict(type='path', default=DEFAULT_STAGE),
            keep=dict(type='int', default=2),
            settled=dict(type='list', elements='str', default=[]),
            **TRUST_ARGUMENT_SPEC
        ),
        required_together=[('access_key', 'secret_key')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        backend = open_store(params, open_url=open_url)
        request = FetchRequest(params['channel'], params['ecosystem'], params['key'], params['dest'], params['keep'],
                               module.check_mode, trust_from(params['trusted_keys']), params['settled'])
        result = fetch_cache(backend, request)
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
