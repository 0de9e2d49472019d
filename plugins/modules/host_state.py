#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: host_state
short_description: Platform facts of a host and the staged caches it is already settled on
version_added: 0.1.0
description:
  - Gathers the C(airgap_platform) fact exactly as M(airgap.packages.platform_facts) does, and in the
    same call tells which staged caches the host is B(settled) on, so that a converged host needs
    one round trip instead of one per step.
  - A staged cache (a digest directory under a staging root written by M(airgap.packages.ship_cache))
    is settled when its copy verifies (every artifact's size and sha256), M(airgap.packages.ship_cache)
    with the same O(python.keep) or O(ruby.keep) would prune nothing, and every environment asked
    about already matches it, so that M(airgap.packages.pip_offline) or
    M(airgap.packages.gem_offline) with the same options would change nothing.
  - An artifact file that still matches the copy's C(.verified.json) (its inode, size, mtime and ctime
    when the copy last verified in full, written when it was staged) is not read again, so a converged
    host reads no staged file. Any write, rename over the file or chmod moves its ctime.
  - The controller compares the digest of the cache it built for the host's environment key with
    the settled digests; when it is among them, shipping and installing can be skipped.
  - With O(ruby), the one Ruby run that describes Ruby and the install dir leaves its answer in the O(ruby.stage)
    root (C(.ruby-probe-*.json), not in check mode). A later run takes the answer from there while every path it
    rests on keeps its inode, size, mtime and ctime (the gemspecs, gem and extension directories of the install
    dir, the default gems, Ruby and every file it loaded), so a converged host runs no Ruby. A record that anyone but
    the remote user could have written is ignored.
  - Never changes anything else. A cache that does not verify, or an environment that cannot be read, is
    simply not settled; the install modules report such problems when they run.
author:
  - airgap.packages maintainers (@airgap-packages)
extends_documentation_fragment:
  - airgap.packages.attributes
  - airgap.packages.attributes.info_module
  - airgap.packages.attributes.facts
  - airgap.packages.signing.trust
  - airgap.packages.platform_facts
options:
  python:
    description:
      - The wheel caches to consider and the virtualenvs that must match them. Omit to ask nothing
        about Python.
    type: dict
    suboptions:
      stage:
        description:
          - Staging root of wheel caches on the host (O(airgap.packages.ship_cache#module:dest)).
        type: path
        required: true
      keep:
        description:
          - The O(airgap.packages.ship_cache#module:keep) the caches are shipped with.
        type: int
        default: 2
      environments:
        description:
          - The virtualenvs, each with the options M(airgap.packages.pip_offline) would get.
        type: list
        elements: dict
        default: []
        suboptions:
          virtualenv:
            description: Path of the virtualenv.
            type: path
            required: true
          python:
            description: Interpreter that creates the virtualenv (O(airgap.packages.pip_offline#module:python)).
            type: path
          packages:
            description: Top-level requirements to select, names or requirement strings (O(airgap.packages.pip_offline#module:packages)); all when empty.
            type: list
            elements: str
            default: []
          sync:
            description: As O(airgap.packages.pip_offline#module:sync).
            type: bool
            default: false
  ruby:
    description:
      - The gem caches to consider and the install dir that must match them. Omit to ask nothing about
        Ruby.
      - When set, Ruby is described whatever O(gather_ruby) says, and a host without Ruby fails the task, since
        no gem can be installed there.
    type: dict
    suboptions:
      stage:
        description:
          - Staging root of gem caches on the host (O(airgap.packages.ship_cache#module:dest)).
        type: path
        required: true
      keep:
        description:
          - The O(airgap.packages.ship_cache#module:keep) the caches are shipped with.
        type: int
        default: 2
      install_dir:
        description: As O(airgap.packages.gem_offline#module:install_dir); the default GEM_HOME of C(gem) when omitted.
        type: path
      gems:
        description: As O(airgap.packages.gem_offline#module:gems); every gem of the manifest when empty.
        type: list
        elements: str
        default: []
attributes:
  facts:
    details: Returns the C(airgap_platform) fact, as M(airgap.packages.platform_facts) does.
  platform:
    details: Linux hosts (glibc or musl).
notes:
  - Python 3.8 or newer on the host.
seealso:
  - module: airgap.packages.platform_facts
  - module: airgap.packages.ship_cache
  - module: airgap.packages.pip_offline
  - module: airgap.packages.gem_offline
'''

EXAMPLES = r'''
- name: Describe the host and what it already holds
  airgap.packages.host_state:
    python:
      stage: /var/cache/airgap-packages/python
      environments:
        - virtualenv: /opt/app/venv
          packages: [requests, pyyaml]
    ruby:
      stage: /var/cache/airgap-packages/ruby
      install_dir: /opt/app/gems
  register: held

- name: Build one wheel cache per environment key of the play's hosts
  airgap.packages.wheel_cache:
    dest: /srv/airgap/python
    requirements: [requests, pyyaml]
    platforms: "{{ ansible_play_hosts | map('extract', hostvars, ['ansible_facts', 'airgap_platform', 'python']) | list }}"
  delegate_to: localhost
  run_once: true
  register: built

- name: Ship only where the host is not settled on the cache built for it
  airgap.packages.ship_cache:
    src: "/srv/airgap/python/{{ ansible_facts.airgap_platform.python.key }}"
    dest: /var/cache/airgap-packages/python
  vars:
    built_digest: "{{ (built.caches | selectattr('key', 'equalto', ansible_facts.airgap_platform.python.key) | first).digest }}"
  when: built_digest not in held.python.settled
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    airgap_platform:
      description: The fact M(airgap.packages.platform_facts) returns, gathered the same way.
      returned: always
      type: dict
      contains:
        key:
          description: Combined key, C(<python key>+<ruby key>), or the Python key alone without Ruby.
          returned: always
          type: str
          sample: cp311-manylinux_2_36-x86_64-5c1e3a9f+ruby-3.1.0-x86_64-linux
        python:
          description:
            - The described Python interpreter, with the fields of
              RV(airgap.packages.platform_facts#module:ansible_facts.airgap_platform.python).
          returned: always
          type: dict
          sample: {interpreter: /usr/bin/python3, version: 3.11.2, key: cp311-manylinux_2_36-x86_64-5c1e3a9f}
        ruby:
          description:
            - The described Ruby, with the fields of RV(airgap.packages.platform_facts#module:ansible_facts.airgap_platform.ruby),
              or null when Ruby is absent or not gathered.
            - Always described when O(ruby) is set.
          returned: always
          type: dict
          sample: {executable: /usr/bin/ruby, version: 3.1.2, key: ruby-3.1.0-x86_64-linux}
python:
  description: What the host holds of wheel caches.
  returned: when O(python) is set
  type: dict
  contains:
    stage:
      description: The staging root.
      type: str
      returned: always
      sample: /var/cache/airgap-packages/python
    staged:
      description: Digest directories under the staging root, verified or not; none when the root is one ship_cache would refuse.
      type: list
      elements: str
      returned: always
      sample: [0d6c3c0f6e1b0b8a9a4f1d1e1b3d2c9a8f7e6d5c4b3a29181716151413121110]
    settled:
      description: Staged digests the host is settled on (see the description).
      type: list
      elements: str
      returned: always
      sample: [0d6c3c0f6e1b0b8a9a4f1d1e1b3d2c9a8f7e6d5c4b3a29181716151413121110]
ruby:
  description: What the host holds of gem caches.
  returned: when O(ruby) is set
  type: dict
  contains:
    stage:
      description: The staging root.
      type: str
      returned: always
      sample: /var/cache/airgap-packages/ruby
    staged:
      description: Digest directories under the staging root, verified or not; none when the root is one ship_cache would refuse.
      type: list
      elements: str
      returned: always
      sample: [3f0c9c1e5d2b7a8e4f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a]
    settled:
      description: Staged digests the host is settled on (see the description).
      type: list
      elements: str
      returned: always
      sample: []
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import TRUST_ARGUMENT_SPEC, trust_from
from ansible_collections.airgap.packages.plugins.module_utils._target.host_state import (
    check_questions, gem_probe, gems_match, holdings, python_environments_match)
from ansible_collections.airgap.packages.plugins.module_utils._target.platform_facts import FACTS_ARGUMENT_SPEC, gather_platform_from_params


def main():
    module = AnsibleModule(
        argument_spec=dict(
            FACTS_ARGUMENT_SPEC,
            trusted_keys=TRUST_ARGUMENT_SPEC['trusted_keys'],
            python=dict(type='dict', options=dict(
                stage=dict(type='path', required=True),
                keep=dict(type='int', default=2),
                environments=dict(type='list', elements='dict', default=[], options=dict(
                    virtualenv=dict(type='path', required=True),
                    python=dict(type='path'),
                    packages=dict(type='list', elements='str', default=[]),
                    sync=dict(type='bool', default=False),
                )),
            )),
            ruby=dict(type='dict', options=dict(
                stage=dict(type='path', required=True),
                keep=dict(type='int', default=2),
                install_dir=dict(type='path'),
                gems=dict(type='list', elements='str', default=[]),
            )),
        ),
        supports_check_mode=True,
    )
    python, ruby = module.params['python'], module.params['ruby']
    result = {'changed': False}
    if ruby:
        module.params['gather_ruby'] = True
    trusted_keys = module.params['trusted_keys']
    try:
        check_questions(python, ruby)
        probe = gem_probe(ruby['stage'], ruby['install_dir'], check_mode=module.check_mode) if ruby else None
        result['ansible_facts'] = {'airgap_platform': gather_platform_from_params(module, probe)}
        trust = trust_from(trusted_keys)
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    if python:
        for environment in python['environments']:
            if environment['python'] and os.sep not in environment['python']:
                environment['python'] = module.get_bin_path(environment['python'], required=True)
        matches = python_environments_match(python['environments'], trusted_keys)
        result['python'] = holdings(python['stage'], python['keep'], matches, trust)
    if ruby:
        if result['ansible_facts']['airgap_platform']['ruby'] is None:
            module.fail_json(msg='this host has no Ruby (%s and gem on PATH), yet gems are asked for: install Ruby on it '
                                 'or leave it out of the play' % module.params['ruby_executable'], **result)
        result['ruby'] = holdings(ruby['stage'], ruby['keep'], gems_match(ruby['install_dir'], ruby['gems'], trusted_keys, probe),
                                  trust)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
