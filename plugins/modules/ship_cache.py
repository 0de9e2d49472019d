#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: ship_cache
short_description: Ship a wheel or gem cache to a target as one verified stream
version_added: 0.1.0
description:
  - Sends a cache directory built by M(airgap.packages.wheel_cache) or M(airgap.packages.gem_cache)
    to the target as one archive, into a directory named by the manifest digest under O(dest).
  - The archive is unpacked into a private directory, checked against the digest and every
    artifact's size and sha256, and renamed into place only then; an interrupted or altered
    transfer is never used.
  - A target that already holds that digest, verified, receives nothing.
  - Older staged digests beyond O(keep) are removed.
  - The controller side runs as an action plugin; the target side needs Python only.
  - The controller writes the archive of a cache once per run, in Ansible's private local temp directory
    (C(ANSIBLE_LOCAL_TEMP), removed when the run ends), and sends that one file to every host that lacks
    the cache.
  - Over the C(ssh) connection, when its arguments ask for ssh compression (the C(-C) of Ansible's default
    C(ssh_args)), the archive goes without it; the artifacts are compressed already, and compressing them
    again would only cost CPU at both ends. With C(ControlPersist), it then goes over a master connection
    of its own, at a control path beside the usual one (C(ap-%C) in the control path directory, or the
    configured C(control_path) with C(-plain) added). Every other command of the task uses the connection
    as configured.
  - The manifest's signature (C(manifest.json.sig), written by M(airgap.packages.wheel_cache) or
    M(airgap.packages.gem_cache) with C(signing_key)) travels with it; with O(trusted_keys) the target
    refuses a cache whose manifest a trusted key did not sign, before it is renamed into place.
extends_documentation_fragment:
  - airgap.packages.attributes
  - airgap.packages.attributes.check_mode_full
  - airgap.packages.attributes.diff_mode_none
  - airgap.packages.attributes.action
  - airgap.packages.signing.trust
options:
  src:
    description:
      - Cache directory on the controller, holding C(manifest.json) and the artifacts it lists.
      - Only the files the manifest lists (and C(manifest.json), its signature C(manifest.json.sig), C(pylock.toml))
        are shipped.
    type: path
    required: true
  dest:
    description:
      - Staging root on the target; the cache lands in O(dest)/<digest>/. An absolute path.
      - Refused when O(dest), or anything below it on the way to a staged cache, is a symbolic link; when O(dest)
        or any directory above it is owned by anyone but root and the user the task runs as, or writable by
        anyone else (a sticky, world-writable directory such as C(/tmp) included). A link above O(dest) (for
        example C(/var/cache) pointing to a larger disk) is followed when root or that user owns it, and the
        path it points to is checked the same way. Missing directories are created, mode 0700.
      - Before the archive is sent, the free space of the filesystems holding O(dest) and the remote temp dir
        is checked against the archive and the unpacked cache; a shortfall is reported per filesystem.
    type: path
    default: /var/cache/airgap-packages
  keep:
    description:
      - How many staged digests to keep under O(dest), the shipped one included; at least 1.
    type: int
    default: 2
  settled:
    description:
      - Digests that M(airgap.packages.host_state) reported, earlier in the same play, as caches this
        target is settled on (the C(settled) list of its C(python) or C(ruby) result).
      - When the digest of O(src) is among them the task returns at once, from the controller, and the
        target is neither asked nor sent anything, and nothing is pruned (a settled cache leaves
        nothing to prune).
    type: list
    elements: str
    default: []
  digest:
    description:
      - Set by the action plugin from the controller's manifest; not for direct use.
    type: str
    required: true
  archive:
    description:
      - Set by the action plugin to the archive it sent; not for direct use.
      - The archive is removed as soon as the target opens it, whatever the outcome.
    type: path
  archive_bytes:
    description:
      - Set by the action plugin to the size of the archive it would send; not for direct use.
    type: int
  file_sizes:
    description:
      - Set by the action plugin to the size of every file in that archive; not for direct use.
    type: list
    elements: int
attributes:
  action:
    support: full
    details: The action plugin reads the manifest and checks the cache on the controller, asks the target
      for the digest, and sends the archive only when the target lacks it.
  check_mode:
    details: Reports whether the cache would be shipped and what would be pruned, without acting.
  diff_mode:
    details: Nothing to show beyond the digest and the bytes sent.
  platform:
    details: Any POSIX host with Python; the controller side needs the cache directory.
author:
  - airgap.packages maintainers (@airgap-packages)
"""

EXAMPLES = r"""
- name: Describe the host and tell which staged wheel caches it is settled on
  airgap.packages.host_state:
    python:
      stage: /var/cache/airgap-packages/python
      environments:
        - virtualenv: /opt/app/venv
  register: held

- name: Ship the wheel cache of this host's environment key
  airgap.packages.ship_cache:
    src: "/srv/airgap/python/{{ ansible_facts.airgap_platform.python.key }}"
    dest: /var/cache/airgap-packages/python
  register: shipped

- name: Ship it unless host_state found the host settled on it (then the target is not even asked)
  airgap.packages.ship_cache:
    src: "/srv/airgap/python/{{ ansible_facts.airgap_platform.python.key }}"
    dest: /var/cache/airgap-packages/python
    settled: "{{ held.python.settled }}"

- name: Install from the shipped copy
  airgap.packages.pip_offline:
    cache: "{{ shipped.path }}"
    virtualenv: /opt/app/venv
"""

RETURN = r"""
path:
  description: Directory on the target that holds the verified cache.
  returned: success, except in check mode for a cache not built yet
  type: str
  sample: /var/cache/airgap-packages/python/3b1f0c0e6f3d9c7b4e1f3f4b2a8c5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8
digest:
  description: sha256 of the cache's canonical manifest.
  returned: success, except in check mode for a cache not built yet
  type: str
  sample: 3b1f0c0e6f3d9c7b4e1f3f4b2a8c5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8
present:
  description:
    - Whether the target holds the verified cache at the end of the task.
    - In check mode, whether it held it already; false when it would be shipped.
  returned: success, except in check mode for a cache not built yet
  type: bool
  sample: true
shipped:
  description: Whether the cache was (or in check mode would be) sent.
  returned: success
  type: bool
  sample: false
transferred_bytes:
  description: Bytes sent to the target by this task; 0 when the target already held the digest.
  returned: success
  type: int
  sample: 0
archive_bytes:
  description: Size of the archive that was or would be sent.
  returned: when the target did not hold the digest
  type: int
  sample: 5242880
settled:
  description: Whether the answer came from O(settled), without asking the target.
  returned: success, except in check mode for a cache not built yet
  type: bool
  sample: false
pruned:
  description:
    - Names removed under O(dest), or to be removed in check mode, links left where a staged cache belongs
      included (the link itself is removed, never its target).
    - Staged digests beyond O(keep), and the unpacking directories (C(.incoming-*)) of runs that are gone; a
      run in progress holds the staging lock, and its directory is left to it.
  returned: success, except in check mode for a cache not built yet
  type: list
  elements: str
  sample: []
removed_archives:
  description:
    - Archives that earlier runs, killed between sending and receiving, left in the remote temp dirs of the
      target; removed once no process holds them open and nothing wrote to them for 10 minutes.
  returned: success, except in check mode for a cache not built yet
  type: list
  elements: str
  sample: []
problems:
  description: When the cache on the controller is incomplete, one entry per file that is missing or has the wrong size.
  returned: failure, when the cache on the controller is incomplete
  type: list
  elements: dict
  contains:
    file:
      description: Path of the file on the controller.
      type: str
      returned: always
      sample: /srv/airgap/python/cp311-manylinux_2_36-x86_64-5c1e3a9f/six-1.17.0-py2.py3-none-any.whl
    problem:
      description: C(missing) or C(size mismatch).
      type: str
      returned: always
      sample: size mismatch
    expected_size:
      description: The size the manifest lists.
      type: int
      returned: always
      sample: 11053
    actual_size:
      description: The size of the file.
      type: int
      returned: when the file is there
      sample: 4096
    expected_sha256:
      description: The sha256 the manifest lists.
      type: str
      returned: always
      sample: 4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274
filesystems:
  description: When the free space check fails, every filesystem checked, with what it holds and the bytes required and available.
  returned: failure, when a filesystem lacks space
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

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import TRUST_ARGUMENT_SPEC, trust_from
from ansible_collections.airgap.packages.plugins.module_utils._common.staging import DEFAULT_STAGE, Incoming, converge_stage, staged_path


def main():
    # The action plugin passes digest and the sizes it will send (and archive, once sent); src stays on the controller.
    # Those options are documented as the action plugin's own, not hidden: ansible-core has no mark for a private
    # option (ansible/ansible#79695), validate-modules fails an undocumented one, and this collection's sanity runs
    # with no ignore entries. A task cannot set them: the action plugin accepts only the public options (_VALID_ARGS).
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type='path', required=True),
            dest=dict(type='path', default=DEFAULT_STAGE),
            keep=dict(type='int', default=2),
            settled=dict(type='list', elements='str', default=[]),
            digest=dict(type='str', required=True),
            archive=dict(type='path'),
            archive_bytes=dict(type='int'),
            file_sizes=dict(type='list', elements='int'),
            **TRUST_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    params = module.params
    dest, digest = params['dest'], params['digest']
    try:
        path = staged_path(dest, digest)
        incoming = None
        if params['archive_bytes'] is not None:
            incoming = Incoming(params['archive_bytes'], params['file_sizes'], module.tmpdir)
        done = converge_stage(dest, digest, params['archive'], params['keep'], module.check_mode,
                              trust_from(params['trusted_keys']), incoming)
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(changed=done.received or bool(done.pruned or done.removed_archives), path=path, digest=digest, present=done.present,
                     pruned=done.pruned, removed_archives=done.removed_archives, settled=False)


if __name__ == '__main__':
    main()
