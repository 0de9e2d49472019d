#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: publish_cache
short_description: Publish wheel and gem caches into a content-addressed store, behind one pointer per channel and key
version_added: 0.2.0
description:
  - Runs on the controller (or wherever the caches were built). Puts caches built by
    M(airgap.packages.wheel_cache) and M(airgap.packages.gem_cache) into a store that nodes pull
    from with M(airgap.packages.fetch_cache), with no controller involved.
  - Each artifact is stored once under its sha256, shared by every cache and environment key that
    uses it; each manifest under its digest; and one small pointer per O(channel) and environment key
    names the manifest the channel serves.
  - An artifact already stored under its sha256 is never uploaded again, so a re-publish of unchanged
    caches uploads 0 bytes and reports no change.
  - Safe to interrupt. A pointer moves only after every artifact and the manifest it names are in
    the store; nodes keep pulling the previous cache until then.
  - A cache whose files do not match its manifest is refused before anything is uploaded.
  - O(manifests) moves pointers to caches the store already holds, to roll a channel back, or to
    promote what one channel serves to another.
requirements:
  - boto3, on the host that runs the task, for C(s3://) stores.
  - With O(signing_key), each manifest's signature is stored beside it before any pointer names it, and each
    pointer carries its own signature; nodes with C(trusted_keys) then accept nothing else.
extends_documentation_fragment:
  - airgap.packages.attributes
  - airgap.packages.attributes.check_mode_full
  - airgap.packages.attributes.diff_mode_none
  - airgap.packages.attributes.store_group
  - airgap.packages.store
  - airgap.packages.signing
options:
  src:
    description:
      - Cache directories to publish. Each is either one cache (a directory holding C(manifest.json)),
        or a cache root holding C(python/<key>/) and C(ruby/<key>/) caches, as the
        C(airgap.packages.offline_install) role's C(offline_install_cache_dir) does.
      - The channel's pointer for each cache's environment key is moved to that cache.
    type: list
    elements: path
    default: []
  manifests:
    description:
      - Digests of manifests the store already holds (a RV(pointers[].digest) or RV(pointers[].previous)
        of an earlier run) to point the channel's keys at.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    details: Reports what would be uploaded and which pointers would move, without writing.
  diff_mode:
    details: No diff is returned; RV(pointers) shows each pointer's previous and new digest.
  platform:
    details: The host holding the caches; boto3 for C(s3://) stores.
author:
  - airgap.packages maintainers (@airgap-packages)
"""

EXAMPLES = r"""
- name: Publish every cache built for the fleet to the stable channel of a bucket
  airgap.packages.publish_cache:
    src: [/srv/airgap/caches]
    store: s3://example-artifacts/airgap
    region: eu-west-1
  delegate_to: localhost
  run_once: true
  register: published

- name: Publish to a directory on removable media, which any web server can then serve as is
  airgap.packages.publish_cache:
    src: [/srv/airgap/caches]
    store: file:///media/usb/airgap-store
  delegate_to: localhost
  run_once: true

- name: Move the stable channel back to what it served before
  airgap.packages.publish_cache:
    store: s3://example-artifacts/airgap
    manifests: "{{ published.pointers | map(attribute='previous') | select | list }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
store:
  description: The store, without credentials.
  returned: success
  type: str
  sample: s3://example-artifacts/airgap
channel:
  description: The channel whose pointers were set.
  returned: success
  type: str
  sample: stable
uploaded:
  description: Artifacts uploaded (or to be uploaded, in check mode); those the store held already are not listed.
  returned: success
  type: list
  elements: dict
  contains:
    file:
      description: File name of the artifact.
      type: str
      returned: always
      sample: six-1.17.0-py2.py3-none-any.whl
    sha256:
      description: Its sha256, the name it is stored under.
      type: str
      returned: always
      sample: 4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274
    size:
      description: Its size in bytes.
      type: int
      returned: always
      sample: 11053
  sample: []
uploaded_bytes:
  description: Bytes of artifacts uploaded by this task.
  returned: success
  type: int
  sample: 0
reused_artifacts:
  description: Artifacts the store already held under their sha256, not uploaded again.
  returned: success
  type: int
  sample: 19
signed:
  description: Digests of the manifests whose signature this task wrote into the store.
  returned: success
  type: list
  elements: str
  sample: []
manifests:
  description: Digests of the manifests written into the store by this task.
  returned: success
  type: list
  elements: str
  sample: []
pointers:
  description: One entry per channel pointer set by this task.
  returned: success
  type: list
  elements: dict
  contains:
    ecosystem:
      description: C(python) or C(ruby).
      type: str
      returned: always
      sample: python
    key:
      description: The environment key.
      type: str
      returned: always
      sample: cp311-manylinux_2_36-x86_64-e1a41873
    digest:
      description: The manifest digest the pointer names now.
      type: str
      returned: always
      sample: 3b1f0c0e6f3d9c7b4e1f3f4b2a8c5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8
    previous:
      description: The digest it named before, or null for a new pointer.
      type: str
      returned: always
      sample: null
    changed:
      description: Whether this task moved the pointer.
      type: bool
      returned: always
      sample: true
    sequence:
      description: The pointer's sequence number, which grows with every move.
      type: int
      returned: always
      sample: 1
requests:
  description: Requests made to the store.
  returned: success
  type: int
  sample: 24
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import SIGNING_ARGUMENT_SPEC, signer_from
from ansible_collections.airgap.packages.plugins.module_utils._common.store import STORE_ARGUMENT_SPEC, open_store
from ansible_collections.airgap.packages.plugins.module_utils._controller.publish_cache import PublishRequest, publish_caches


def main():
    module = AnsibleModule(
        argument_spec=dict(
            STORE_ARGUMENT_SPEC,
            src=dict(type='list', elements='path', default=[]),
            manifests=dict(type='list', elements='str', default=[]),
            **SIGNING_ARGUMENT_SPEC
        ),
        required_together=[('access_key', 'secret_key')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        backend = open_store(params, writable=True)
        request = PublishRequest(params['channel'], params['src'], params['manifests'], module.check_mode,
                                 signer_from(params['signing_key']))
        result = publish_caches(backend, request)
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
