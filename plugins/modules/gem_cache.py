#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_cache: runs on the controller; the work is in module_utils/_controller/ruby/gem_cache.py."""

DOCUMENTATION = r'''
---
module: gem_cache
short_description: Build a verified gem cache with the full dependency closure, per target platform
version_added: 0.1.0
description:
  - Resolves the full closure of runtime dependencies of the requested gems (or takes exactly the
    set a C(Gemfile.lock) locks), fetches the C(.gem) files and writes C(manifest.json) beside
    them, in one directory per target environment, C(<dest>/<key>/).
    M(airgap.packages.gem_offline) installs such a cache on hosts without network access.
  - Nothing is installed or compiled on the controller. RubyGems' own resolver reads the sources'
    index for the target's platform and Ruby version in a private, empty RubyGems environment;
    the exact versions are then downloaded and checked with C(Gem::Package#verify).
  - Prefers a precompiled gem for the target platform where the source has one, and falls back
    to the source gem (platform C(ruby)) otherwise.
  - Idempotent without the network. When the cache already answers the same request (same
    environment, top-level gems, locked set and sources) and every file still matches its
    size and sha256, the task reports C(changed=false) and contacts no source.
  - Changes only what it must. After a change of the request the resolver keeps the versions the
    cache already holds where they still fit, reuses every file it can, and fetches only what is
    new. Check mode and C(--diff) report the files to add and remove without fetching.
  - Atomic. Downloads go to a private staging directory under O(dest); the new manifest replaces
    the old one with a rename only when every file is in place, so an interrupted or failed run
    leaves the previous cache and manifest intact.
  - On a local connection (a task delegated to C(localhost), say) the controller checks in-process whether
    every cache is current, and if so reports it without starting the module, which makes the no-op much faster.
author:
  - airgap.packages maintainers (@airgap-packages)
requirements:
  - Ruby with RubyGems on the controller (C(ruby) in C(PATH)).
extends_documentation_fragment:
  - airgap.packages.attributes
  - airgap.packages.attributes.check_mode_full
  - airgap.packages.attributes.diff_mode_full
  - airgap.packages.attributes.action
  - airgap.packages.signing
  - airgap.packages.signing.trust
options:
  gems:
    description:
      - Gems to cache with their runtime dependencies.
      - Each is a name (V(rake)), a name with a RubyGems requirement after a colon
        (V(rake:~> 13.0), V(rake:>= 13, < 14), V(rake:13.0.6) meaning exactly that version), or a
        dict with C(name) and optional C(version) (the requirement).
      - Naming a gem twice combines its requirements.
      - With O(gemfile_lock), the locked versions are pinned and these gems are resolved around them.
      - At least one of O(gems) and O(gemfile_lock) is required.
    type: list
    elements: raw
    default: []
  gemfile_lock:
    description:
      - Path on the controller of a C(Gemfile.lock) written by Bundler. The cache holds exactly
        the gems it locks, at the locked versions; for each target platform the locked variant
        for that platform is taken where the lock has one, else the C(ruby) variant.
      - Its C(DEPENDENCIES) become the top-level gems of the manifest.
      - The C(remote) of its C(GEM) section is not used; gems are fetched from O(sources).
        Gems from C(GIT), C(PATH) or plugin sources cannot be cached and are an error.
    type: path
  sources:
    description:
      - Gem source URLs (C(http), C(https) or C(file)), tried in order.
      - A private source may carry credentials, V(https://user:token@gems.example.com/). The
        option is C(no_log); credentials are stripped from the manifest, the results and error
        messages, which name a source as C(host:port/path).
      - When neither this option nor O(use_gemrc_sources) names a source, V(https://rubygems.org/).
    type: list
    elements: str
  use_gemrc_sources:
    description:
      - Also use the sources that the controller's gem configuration (C(~/.gemrc), C(GEMRC),
        C(/etc/gemrc)) lists, after O(sources).
      - Otherwise no gem configuration of the controller is read.
    type: bool
    default: false
  platforms:
    description:
      - Target environments to build a cache for, one directory each.
      - A Ruby platform string, V(ruby) for source gems only or one such as V(x86_64-linux) or
        V(aarch64-linux) (precompiled gems of that platform are preferred). The key (directory
        name) is the platform string itself; C(required_ruby_version) is then checked against the
        controller's Ruby.
      - Or the C(ruby) dict of a host's C(airgap_platform) fact from
        M(airgap.packages.platform_facts) (C(platform), C(version), C(rubygems_version), C(key)).
        The cache is then resolved for that Ruby and RubyGems version and keyed by that C(key).
        Hosts with the same key share one cache.
    type: list
    elements: raw
    default: [ruby]
  dest:
    description:
      - Directory that holds one cache directory per environment key, C(<dest>/<key>/). An absolute path.
      - Created when missing.
    type: path
    required: true
  prune:
    description:
      - Remove files from each cache directory that its manifest does not list (gems dropped from
        the request, files put there by hand). The manifest and its signature stay.
      - With V(false) such files stay on disk, unlisted, and are not shipped or published with the cache.
      - Interrupted runs leave nothing in a cache directory to prune. Their workspaces beside the caches
        are removed by the next run whatever this option says.
    type: bool
    default: true
  refresh:
    description:
      - Resolve again even when the cache answers the request, to pick up newer releases that the
        requirements allow. Versions may then change; unchanged files are still reused.
    type: bool
    default: false
attributes:
  action:
    support: full
    details: An action plugin reports a current cache without running the module when the task runs
      on a local connection without become or environment; otherwise it runs the module.
  check_mode:
    details: Resolves against the sources (unless the cache already answers the request) and
      reports the files to add, remove and prune, without fetching or writing anything.
  diff_mode:
    details: Shows the gem file names before and after, per cache directory.
  platform:
    details: The controller, with Ruby and RubyGems (tested with Ruby 3.1 and RubyGems 3.3).
notes:
  - Runs on the controller (C(delegate_to) the controller, or C(hosts) C(localhost)). Needs Ruby
    with RubyGems there (tested with Ruby 3.1 and RubyGems 3.3); that one Ruby resolves for every
    target platform and Ruby version.
  - The controller's C(~/.gemrc), C(/etc/gemrc), C(GEM_HOME), C(GEM_PATH) and other C(GEM_*)
    variables are ignored. Proxy variables (C(https_proxy) and so on) and C(SSL_CERT_FILE) apply.
  - A gem's native extension is detected from the C(extensions) of its specification and
    recorded as C(native) in the manifest, so the install side can check for a compiler first.
seealso:
  - module: airgap.packages.gem_offline
  - module: airgap.packages.platform_facts
  - module: airgap.packages.wheel_cache
'''

EXAMPLES = r'''
- name: Cache rake 13 and nokogiri for Linux x86_64 and as source gems
  airgap.packages.gem_cache:
    gems:
      - rake:~> 13.0
      - name: nokogiri
        version: ">= 1.15, < 2"
    platforms:
      - x86_64-linux
      - ruby
    dest: /srv/airgap/ruby

- name: Cache exactly what the application's Gemfile.lock locks, for the platform of every target
  airgap.packages.gem_cache:
    gemfile_lock: "{{ playbook_dir }}/files/Gemfile.lock"
    platforms: "{{ groups['app'] | map('extract', hostvars, ['ansible_facts', 'airgap_platform', 'ruby']) | list }}"
    dest: /srv/airgap/ruby
  delegate_to: localhost
  run_once: true

- name: Use a private gem source with credentials
  airgap.packages.gem_cache:
    gems: [internal_tool]
    sources:
      - "https://ci:{{ gem_token }}@gems.example.com/private/"
      - https://rubygems.org/
    dest: /srv/airgap/ruby
  vars:
    gem_token: "{{ lookup('ansible.builtin.env', 'GEM_SOURCE_TOKEN') }}"
'''

RETURN = r'''
changed:
  description: Whether any cache directory changed (files fetched, manifest replaced or files pruned).
  returned: always
  type: bool
  sample: true
caches:
  description: One entry per environment key, in the order of O(platforms).
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: The environment key; also the name of the cache directory.
      type: str
      returned: always
      sample: ruby-3.1.0-x86_64-linux
    path:
      description: The cache directory, C(<dest>/<key>).
      type: str
      returned: always
      sample: /srv/airgap/ruby/ruby-3.1.0-x86_64-linux
    manifest:
      description: Path of the cache's C(manifest.json).
      type: str
      returned: always
      sample: /srv/airgap/ruby/ruby-3.1.0-x86_64-linux/manifest.json
    digest:
      description:
        - sha256 of the manifest's canonical JSON, the idempotency key that names the shipped copy.
        - In check mode with changes pending, the digest of the current manifest (null when there is none).
      type: str
      returned: always
      sample: 3f0c9c1e5d2b7a8e4f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a
    environment:
      description: The manifest's environment (C(key), C(platform), and C(ruby_version), C(abi_version),
        C(rubygems_version) when known).
      type: dict
      returned: always
      sample: {key: ruby-3.1.0-x86_64-linux, platform: x86_64-linux, ruby_version: 3.1.2, abi_version: 3.1.0}
      contains:
        key:
          description: The environment key.
          type: str
          returned: always
          sample: ruby-3.1.0-x86_64-linux
        platform:
          description: The Ruby platform the cache is for, V(ruby) for source gems only.
          type: str
          returned: always
          sample: x86_64-linux
        ruby_version:
          description: The target's Ruby version.
          type: str
          returned: when the platform is a dict with a Ruby version, as the C(ruby) facts of M(airgap.packages.platform_facts) are
          sample: 3.1.2
        abi_version:
          description: The target's Ruby ABI version, the directory gems install under.
          type: str
          returned: when the platform is a dict with a Ruby version, as the C(ruby) facts of M(airgap.packages.platform_facts) are
          sample: 3.1.0
        rubygems_version:
          description: The target's RubyGems version.
          type: str
          returned: when the platform is a dict with a RubyGems version
          sample: 3.3.15
    gems:
      description: The gem files the manifest lists (after the run, or as planned in check mode).
      type: list
      returned: always
      elements: str
      sample: [airgap_chain_a-1.0.0.gem, nokogiri-1.15.5-x86_64-linux.gem]
    native:
      description: Names of the gems with native extensions (to be compiled on the target).
      type: list
      returned: always
      elements: str
      sample: [airgap_native]
    added:
      description: Gem files that the manifest lists now and did not list before.
      type: list
      returned: always
      elements: str
      sample: [airgap_twover-1.0.0.gem]
    removed:
      description: Gem files that the manifest no longer lists.
      type: list
      returned: always
      elements: str
      sample: [airgap_twover-2.0.0.gem]
    fetched:
      description: Gem files downloaded by this run (or to be downloaded, in check mode); files the
        cache already held intact are reused, not fetched.
      type: list
      returned: always
      elements: str
      sample: [airgap_twover-1.0.0.gem]
    pruned:
      description: Gem files deleted from the directory (or to be deleted, in check mode) because the
        manifest does not list them.
      type: list
      returned: always
      elements: str
      sample: [airgap_twover-2.0.0.gem]
    signed:
      description: Whether this task wrote (or in check mode would write) the manifest's signature, C(manifest.json.sig).
      type: bool
      returned: when O(signing_key) is set
      sample: false
    changed:
      description: Whether this cache changed.
      type: bool
      returned: always
      sample: false
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import settle_cache_signatures, signer_from, trust_from
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_cache import (
    ARGUMENT_SPEC, build_gem_caches, request_from_params)
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_resolver import RubyGems


def _gemrc_sources(ruby):
    with RubyGems(ruby, []) as rubygems:
        return rubygems.gemrc_sources()


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    ruby = module.get_bin_path('ruby')
    if not ruby:
        module.fail_json(msg='gem_cache needs Ruby with RubyGems on the controller: ruby was not found in PATH')
    try:
        signer, trust = signer_from(module.params['signing_key']), trust_from(module.params['trusted_keys'])
        request = request_from_params(module.params, read_gemrc_sources=lambda: _gemrc_sources(ruby))
        result = build_gem_caches(request, lambda: RubyGems(ruby, request.sources), check_mode=module.check_mode,
                                  want_diff=module._diff)
        settle_cache_signatures(result['caches'], signer, trust, module.check_mode)
        result['changed'] = any(cache['changed'] for cache in result['caches'])
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    for warning in result.pop('warnings'):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
