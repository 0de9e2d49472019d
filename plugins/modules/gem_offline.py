#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_offline: runs on the target; the work is in module_utils/_target/ruby/gem_offline.py."""

DOCUMENTATION = r'''
---
module: gem_offline
short_description: Install a verified gem cache into a GEM_HOME, strictly offline and idempotently
version_added: 0.1.0
description:
  - Makes an install dir (a C(GEM_HOME)) on the target hold exactly the gems that a cache built
    by M(airgap.packages.gem_cache) pins, at the pinned versions and platforms, without consulting
    any gem source.
  - Verifies first. Every C(.gem) file the selected gems need is checked against the manifest
    (size and sha256), its platform against the host's ruby, and every runtime dependency
    against the cache, before C(gem) runs. Any problem stops the task with an error that names
    the file and the expected and actual values; nothing is installed.
  - Plans from facts. One C(ruby -e) run lists the specifications in the install dir; the plan
    (install, upgrade, downgrade, reinstall, prune, remove) is the difference to the manifest.
    When there is nothing to do the task reports C(changed=false) and C(gem) is not run. Check
    mode and C(--diff) report the same plan.
  - Repairs drift gem by gem. A gem that was uninstalled, replaced by another version, joined by
    another version, whose native extension was never built, or whose specification is there
    while its C(gems/<name>-<version>) directory is gone or empty (or the other way round) is put
    back, and only that gem is touched. Other versions of a gem the manifest pins are removed.
  - Checks each C(.gem) the plan installs before C(gem) sees it, where RubyGems does not. It must
    be a plain tar of C(metadata.gz) and C(data.tar.gz) whose specification has the name, version
    and platform of the file name and the manifest (RubyGems installs a file named like one gem
    that holds another as that other gem), and whose payload holds only files, directories and
    links that stay inside the gem (no absolute paths, no C(..), no device files or hard links).
    The error names the file and the member.
  - Strictly offline. C(gem install --local --ignore-dependencies) installs the exact files the
    plan names, with sources cleared, C(--norc), C(GEMRC) an empty file, C(HOME) and the XDG
    directories private and empty, and every C(GEM_*), C(RUBYOPT), C(RUBYLIB), C(BUNDLE_*) and
    C(DESTDIR) variable of the target dropped, so no C(.gemrc), C(/etc/gemrc) or environment
    setting can redirect it.
  - All or nothing. Gems are installed into a private staging directory inside the install dir
    and moved into place only when every one of them installed, specifications last. A native
    extension that fails to build leaves nothing behind. Before a native extension is built the
    module checks for the C compiler, make and the Ruby headers, and fails naming what is missing.
  - One lock per install dir serialises runs against it.
author:
  - airgap.packages maintainers (@airgap-packages)
extends_documentation_fragment:
  - airgap.packages.attributes
  - airgap.packages.attributes.check_mode_full
  - airgap.packages.attributes.diff_mode_full
  - airgap.packages.signing.trust
options:
  cache:
    description:
      - Directory on the target that holds a gem cache, as built by M(airgap.packages.gem_cache)
        and shipped to the host, with its C(manifest.json) beside the C(.gem) files.
    type: path
    required: true
  gems:
    description:
      - Top-level gems of the manifest to act on, each with its dependency closure.
      - Empty means every top-level gem of the manifest.
      - A name that is not a top-level gem of the manifest is an error.
    type: list
    elements: str
    default: []
  install_dir:
    description:
      - The install dir (C(GEM_HOME)) to manage, an absolute path. Created when missing. Refused on a read-only or
        kernel filesystem (C(/proc)).
      - When neither O(install_dir) nor O(user_install) is set, the default gem dir of the ruby
        that runs O(executable) (C(Gem.default_dir)).
      - Mutually exclusive with O(user_install).
    type: path
  user_install:
    description:
      - Manage the user gem dir of the remote user (C(Gem.user_dir)) instead of O(install_dir).
    type: bool
    default: false
  bindir:
    description:
      - Where executables of the installed gems go, an absolute path.
      - Defaults to what RubyGems uses for the install dir (C(Gem.bindir)); for an explicit
        O(install_dir) that is its C(bin) subdirectory.
    type: path
  executable:
    description:
      - The C(gem) program to use, by name (looked up in C(PATH)) or path.
      - The ruby that runs it (the one its C(#!) line names, else the C(ruby) beside it) also
        runs the probe, so the gem dirs, platforms and extension API are that Ruby's.
    type: str
    default: gem
  state:
    description:
      - V(present) installs the selected gems and their dependencies at the pinned versions.
      - V(absent) removes every installed version of the selected gems and their dependencies,
        except those that a gem staying installed depends on (reported in RV(kept)) and, when
        O(gems) selects a subset, those that the other top-level gems of the manifest need.
        The cache files are not verified for V(absent).
    type: str
    choices: [present, absent]
    default: present
  sync:
    description:
      - With O(state=present), also remove every gem installed in the install dir whose name the
        manifest does not list. Only the install dir is touched; default gems of the Ruby
        installation and gems in other directories of C(GEM_PATH) stay.
      - Not allowed with O(state=absent).
    type: bool
    default: false
  document:
    description:
      - Generate ri documentation for the gems installed (C(gem install --document=ri)), as RubyGems does by default.
    type: bool
    default: false
attributes:
  check_mode:
    details: Probes the install dir and verifies the cache, and returns the plan without running C(gem).
  diff_mode:
    details: Shows C(name version) lines before and after for the gems the plan touches.
  platform:
    details: Targets with Ruby and RubyGems (tested with Ruby 3.1 and RubyGems 3.3).
notes:
  - Runs on the target. Needs Ruby with RubyGems on the target; Python 3.8 or later standard
    library only.
  - The cache must be complete for this host; build it with M(airgap.packages.gem_cache) for the
    host's environment key (M(airgap.packages.platform_facts)).
  - The installed gems are found by ruby only when the install dir is in its C(GEM_PATH) (or is
    the default or user gem dir).
seealso:
  - module: airgap.packages.gem_cache
  - module: airgap.packages.platform_facts
  - module: airgap.packages.pip_offline
'''

EXAMPLES = r'''
- name: Ship the gem cache built for this kind of host
  airgap.packages.ship_cache:
    src: /srv/airgap/ruby/ruby-3.1.0-x86_64-linux
    dest: /var/cache/airgap/ruby
  register: shipped_gems

- name: Install every gem of the shipped cache into the application's GEM_HOME
  airgap.packages.gem_offline:
    cache: "{{ shipped_gems.path }}"
    install_dir: /opt/app/gems

- name: Install only one top-level gem (and its dependencies), removing gems the manifest does not list
  airgap.packages.gem_offline:
    cache: "{{ shipped_gems.path }}"
    gems:
      - airgap_chain_a
    install_dir: /opt/app/gems
    bindir: /opt/app/bin
    sync: true

- name: Install into the remote user's gem dir with a particular Ruby
  airgap.packages.gem_offline:
    cache: /home/deploy/gem-cache
    user_install: true
    executable: /opt/ruby-3.3/bin/gem

- name: Remove the gems of a cache again
  airgap.packages.gem_offline:
    cache: "{{ shipped_gems.path }}"
    install_dir: /opt/app/gems
    state: absent
'''

RETURN = r'''
install_dir:
  description: The install dir that was managed (resolved for the default and user gem dirs).
  returned: success
  type: str
  sample: /opt/app/gems
bindir:
  description: Where executables of the installed gems go.
  returned: success
  type: str
  sample: /opt/app/gems/bin
manifest_digest:
  description: sha256 of the cache manifest's canonical JSON, the idempotency key of the cache.
  returned: success
  type: str
  sample: 3f1b0c6c1d0a3c1c9f0e0b1c6f2a7d0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d
environment_key:
  description: The environment key the cache was built for.
  returned: success
  type: str
  sample: ruby-3.1.0-x86_64-linux
state:
  description: The state asked for.
  returned: success
  type: str
  sample: present
changes:
  description:
    - The plan, one entry per gem touched; empty when the install dir already held what the manifest pins.
    - In check mode, what a real run would do.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Gem name.
      type: str
      returned: always
      sample: airgap_chain_b
    action:
      description:
        - V(install), V(upgrade), V(downgrade), V(reinstall) (same version, but another platform or an extension never built),
          V(prune) (other versions beside the pinned one removed) or V(remove).
      type: str
      returned: always
      sample: upgrade
    before:
      description: Installed versions before, comma separated (C(VERSION-PLATFORM) for platform gems); null when absent.
      type: str
      returned: always
      sample: 1.0.0
    after:
      description: Versions after; null when removed.
      type: str
      returned: always
      sample: 1.1.0
  sample:
    - {name: airgap_chain_b, action: install, before: null, after: 1.1.0}
gems:
  description: What was done (in check mode, would be done) to each gem in scope, with action C(none) for gems left as they were.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Gem name.
      type: str
      returned: always
      sample: airgap_chain_a
    action:
      description: As in RV(changes), or none.
      type: str
      returned: always
      sample: none
    before:
      description: Installed versions before.
      type: str
      returned: always
      sample: 1.0.0
    after:
      description: Versions after.
      type: str
      returned: always
      sample: 1.0.0
  sample:
    - {name: airgap_chain_a, action: none, before: 1.0.0, after: 1.0.0}
    - {name: airgap_chain_b, action: install, before: null, after: 1.1.0}
verified:
  description: File names of the cache whose size and sha256 were verified against the manifest in this run.
  returned: success
  type: list
  elements: str
  sample: [airgap_chain_a-1.0.0.gem, airgap_chain_b-1.1.0.gem]
kept:
  description: With O(state=absent), gems that stayed because installed gems still depend on them, each with those gems.
  returned: success
  type: dict
  sample: {airgap_chain_c: [other_gem]}
problems:
  description:
    - On a verification failure, one entry per bad file.
    - A file that is missing, truncated or altered has C(expected_size), C(expected_sha256) and the actual
      C(size) (or C(actual_size)) and C(actual_sha256); a gem for another platform has its C(platform); a gem
      whose dependencies the cache lacks lists them in C(missing); a C(.gem) refused member by member names
      the C(member).
  returned: failure
  type: list
  elements: dict
  contains:
    file:
      description: The file at fault.
      type: str
      returned: always
      sample: /var/cache/gems/airgap_chain_b-1.1.0.gem
    problem:
      description: What is wrong, such as C(missing), C(size mismatch), C(sha256 mismatch), C(platform mismatch),
        C(missing dependency).
      type: str
      returned: always
      sample: sha256 mismatch
  sample:
    - {file: /var/cache/gems/airgap_chain_b-1.1.0.gem, problem: sha256 mismatch, expected_sha256: 9f2c..., actual_sha256: 1a7e..., size: 4608}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import TRUST_ARGUMENT_SPEC
from ansible_collections.airgap.packages.plugins.module_utils._target.ruby.gem_offline import GemOffline, GemOfflineRequest


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cache=dict(type='path', required=True),
            gems=dict(type='list', elements='str', default=[]),
            install_dir=dict(type='path'),
            user_install=dict(type='bool', default=False),
            bindir=dict(type='path'),
            executable=dict(type='str', default='gem'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            sync=dict(type='bool', default=False),
            document=dict(type='bool', default=False),
            **TRUST_ARGUMENT_SPEC
        ),
        mutually_exclusive=[('install_dir', 'user_install')],
        supports_check_mode=True,
    )
    params = module.params
    try:
        request = GemOfflineRequest(
            cache=params['cache'], gems=params['gems'], install_dir=params['install_dir'], user_install=params['user_install'],
            bindir=params['bindir'], executable=params['executable'], state=params['state'], sync=params['sync'],
            document=params['document'], trusted_keys=params['trusted_keys'])
        runner = GemOffline(request, check_mode=module.check_mode)
        result = runner.run()
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    if module._diff:
        result['diff'] = runner.diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
