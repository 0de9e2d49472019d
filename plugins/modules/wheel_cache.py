#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs on the controller or a build host: resolves, fetches and verifies wheels per target platform."""

DOCUMENTATION = r'''
---
module: wheel_cache
short_description: Build a verified wheel cache (wheelhouse) per kind of target
version_added: 0.1.0
description:
  - Resolves the full dependency closure of Python requirements B(for each target platform) and
    stores the wheels of each in C(<dest>/<key>/), where C(key) is the platform's environment key
    (see M(airgap.packages.platform_facts)), with a C(manifest.json) that lists every file with
    its size, sha256, project, version, dependencies and origin.
  - Environment markers, C(Requires-Python) and wheel tags are evaluated for the target, not for the
    host running this module, so a cache for CPython 3.9 on aarch64 can be built on an x86_64
    controller with Python 3.11.
  - Version choice per project, among the versions that satisfy every requirement and constraint
    of the closure; the version already cached (unless O(refresh)); else the newest version with a
    wheel for the target; else the newest that publishes only an sdist, which is built to a wheel
    here when the result is pure Python or this host matches the target, or by a builder host of
    the target's key (O(builder_keys)). Otherwise the task fails and lists every package and platform
    without a fitting wheel, with the tags that exist.
  - A re-run with the same inputs whose files all verify (size and sha256) reports C(changed=false)
    without any network access. Adding a requirement fetches only the new files; files of
    requirements no longer asked for leave the manifest and, with O(prune), the directory.
  - The manifest is written atomically after every file is in place, so an interrupted or failed
    run leaves the previous cache and manifest as they were.
  - Ambient pip configuration (C(PIP_*) variables, C(pip.conf) indexes, find-links, constraints) is
    ignored unless O(use_pip_config=true).
  - On a local connection (a task delegated to C(localhost), say) the controller checks in-process whether
    every cache is current, and if so reports it without starting the module, which makes the no-op much faster.
author:
  - airgap.packages maintainers (@airgap-packages)
requirements:
  - packaging and resolvelib on the controller (both come with ansible-core).
  - pip in the controller's Python, only to build sdists.
extends_documentation_fragment:
  - airgap.packages.attributes
  - airgap.packages.attributes.check_mode_full
  - airgap.packages.attributes.diff_mode_full
  - airgap.packages.attributes.action
  - airgap.packages.signing
  - airgap.packages.signing.trust
options:
  dest:
    description:
      - Directory that holds one cache directory per environment key. An absolute path, for example
        C(/srv/airgap/python).
    type: path
    required: true
  requirements:
    description:
      - PEP 508 requirement strings, for example C(PyYAML>=6), C(requests[socks]),
        C(tomli; python_version < "3.11"). Direct URL references are not supported.
    type: list
    elements: str
    default: []
  requirements_files:
    description:
      - pip requirements files. C(-r) and C(-c) lines are followed; C(--hash=sha256:...) pins are
        enforced; other pip options in the files are rejected (use the module options).
    type: list
    elements: path
    default: []
  constraints_files:
    description:
      - pip constraints files; they restrict versions without adding requirements.
    type: list
    elements: path
    default: []
  platforms:
    description:
      - Platforms to build for, each as returned by M(airgap.packages.platform_facts) (the whole
        C(airgap_platform) fact or its C(python) part), or written by hand with at least
        C(version), C(arch) and C(libc) (a dict with C(flavor) and C(version)), for example
        version C(3.9.18), arch C(aarch64), libc flavor C(glibc) version C(2.31) (see EXAMPLES).
      - The version is the full one, with its patch level, as the target's C(python3 --version) prints it. A
        project's C(Requires-Python) can exclude early patch releases (cryptography excludes 3.9.0 and 3.9.1),
        so C(3.9) alone is refused rather than read as 3.9.0.
      - C(implementation) defaults to C(cpython), C(abi) to C(cpXY); tags and marker variables
        are derived.
      - Platforms with the same key share one cache.
      - Defaults to the host running this module.
    type: list
    elements: dict
    default: []
  index_url:
    description:
      - Base URL of the package index (PEP 503/691 simple API). Credentials may be given in the URL;
        they are sent only to that host and never appear in the manifest, results or errors.
      - Defaults to C(https://pypi.org/simple/), or to pip's C(index-url) with O(use_pip_config=true).
    type: str
  extra_index_urls:
    description:
      - Further indexes searched as well, like pip's C(--extra-index-url).
    type: list
    elements: str
    default: []
  use_pip_config:
    description:
      - Honour the machine's pip configuration (config files and C(PIP_INDEX_URL),
        C(PIP_EXTRA_INDEX_URL), C(PIP_FIND_LINKS), C(PIP_CONSTRAINT), C(PIP_NO_INDEX)) in addition
        to the options, and let sdist builds see it.
      - Off by default so that a build never depends silently on ambient indexes or find-links.
    type: bool
    default: false
  include_installers:
    description:
      - Also cache pip, setuptools and wheel (resolved for each target) so that a target without
        pip can bootstrap it offline.
    type: bool
    default: false
  prune:
    description:
      - Remove files from each cache directory that its manifest does not list (artifacts no longer
        needed, files put there by hand). The manifest, its signature and C(pylock.toml) stay.
      - With V(false) such files stay on disk, unlisted, and are not shipped or published with the cache.
      - Interrupted runs leave nothing in a cache directory to prune. Their workspaces beside the caches
        are removed by the next run whatever this option says.
    type: bool
    default: true
  pylock:
    description:
      - Also write a PEP 751 C(pylock.toml) in each cache directory, with paths relative to it.
    type: bool
    default: false
  refresh:
    description:
      - Resolve against the indexes even when the inputs are unchanged, and prefer the newest
        versions over those already cached.
    type: bool
    default: false
  timeout:
    description:
      - Network timeout in seconds for each index request.
    type: int
    default: 60
  builder_keys:
    description:
      - Environment keys that have a builder host, a host of that key with a compiler and Python headers.
      - For these keys, a native wheel that only an sdist provides is not built on this host. The key's cache
        is left as it was, and its build inputs are written to C(<dest>/builds/<key>/), a cache like any other.
        They hold the sdists and the wheels of their PEP 518 C(build-system.requires) (setuptools and wheel
        without one), resolved for that key, with pip and wheel. The result's RV(builds) lists them.
      - The sdist is still built here once, for its dependencies. One that does not build here at all (no
        compiler, a library only the targets have) is left to the builder too, when its C(PKG-INFO) states its
        dependencies (core metadata 2.2 or newer, C(Requires-Dist) not dynamic).
      - Ship the build inputs to the builder with M(airgap.packages.ship_cache), build them there with
        O(build_from), fetch the wheels back and run this module again with O(built_wheels). The
        M(airgap.packages.offline_install) role does all of this from C(offline_install_builders).
    type: list
    elements: str
    default: []
  built_wheels:
    description:
      - Wheels a builder built from the build inputs (the RV(wheels) that O(build_from) returned), now on
        this host. Each is a dict with C(key), C(path), C(sha256) and C(built_from).
      - A file whose sha256 is not the one its builder reported is refused and nothing changes.
      - A wheel is used for its key in place of building the sdist; the manifest records its C(built_from)
        provenance (the sdist's sha256, the builder's key and host, its Python, glibc and compiler), and
        later runs reuse it from the cache, verified, without building.
    type: list
    elements: dict
    default: []
  build_from:
    description:
      - Build mode, on a builder host. The path of build inputs that M(airgap.packages.ship_cache) staged
        on this host (its result's C(path)).
      - Every artifact is verified, the host's Python must be of the key the inputs are for, and a preflight
        checks for what each sdist needs (a C compiler and C(Python.h) for native code, its build
        dependencies among the inputs) before anything builds. Then each sdist is built with C(pip wheel)
        with no index and nothing fetched, and its wheel is placed in C(<dest>/<sdist sha256>/).
      - A wheel already built there from the same sdist, still intact, is reused.
      - All other options but O(dest) are ignored in build mode.
    type: path
attributes:
  action:
    support: full
    details: An action plugin reports a current cache without running the module when the task runs
      on a local connection without become or environment; otherwise it runs the module.
  check_mode:
    details: Resolves (when the inputs changed) and reports the planned files without writing anything.
  diff_mode:
    details: Shows the artifact file names before and after, per cache directory.
  platform:
    details: Linux or another POSIX controller or build host; the targets described can be any platform.
      O(build_from) needs only the standard library of the builder's Python.
notes:
  - The closure of each top-level requirement is recorded in the manifest, so that the target
    needs no C(packaging) to install a subset.
  - A cache is pinned by its inputs; new releases on the index are picked up only when the inputs
    change or with O(refresh=true).
seealso:
  - module: airgap.packages.platform_facts
  - module: airgap.packages.pip_offline
'''

EXAMPLES = r'''
- name: Describe the targets
  airgap.packages.platform_facts:

- name: Build one wheel cache per kind of target
  airgap.packages.wheel_cache:
    dest: /srv/airgap/python
    requirements:
      - PyYAML>=6
      - requests
    platforms: "{{ ansible_play_hosts | map('extract', hostvars, ['ansible_facts', 'airgap_platform', 'python']) | list }}"
    include_installers: true
  delegate_to: localhost
  run_once: true

- name: Build for a platform no host here has, from a private index
  airgap.packages.wheel_cache:
    dest: /srv/airgap/python
    requirements_files: ["{{ playbook_dir }}/requirements.txt"]
    constraints_files: ["{{ playbook_dir }}/constraints.txt"]
    platforms:
      - {version: "3.9.18", arch: aarch64, libc: {flavor: glibc, version: "2.31"}}
    index_url: "https://{{ index_user }}:{{ index_password }}@pypi.internal.example/simple/"
    pylock: true
  vars:
    index_user: ci
    index_password: "{{ lookup('ansible.builtin.env', 'PYPI_INTERNAL_TOKEN') }}"

- name: Build the wheels that only an sdist provides on a builder of that key (build inputs shipped there)
  airgap.packages.wheel_cache:
    build_from: "{{ shipped_build_inputs.path }}"
    dest: /var/cache/airgap-packages/python-built
  delegate_to: builder-bullseye
'''

RETURN = r'''
builds:
  description:
    - Build inputs written for keys in O(builder_keys), one entry per key whose sdists its builder must build.
      Empty when nothing needs a builder.
  returned: unless O(build_from) is set
  type: list
  elements: dict
  contains:
    key:
      description: The environment key.
      type: str
    path:
      description: The build-input cache directory, to ship to the key's builder.
      type: str
    digest:
      description: Its manifest digest (null in check mode).
      type: str
    sdists:
      description: The sdists to build, each with C(name), C(version), C(filename) and C(sha256).
      type: list
      elements: dict
  sample:
    - key: cp39-manylinux_2_31-x86_64-3c9d1e2f
      path: /srv/airgap/python/builds/cp39-manylinux_2_31-x86_64-3c9d1e2f
      digest: 5f0c3e1d2b4a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
      sdists: [{name: netifaces, version: 0.11.0, filename: netifaces-0.11.0.tar.gz, sha256: 043a79146eb2907e}]
wheels:
  description: In build mode, the wheel built from each sdist of the build inputs.
  returned: when O(build_from) is set
  type: list
  elements: dict
  contains:
    filename:
      description: The wheel's file name.
      type: str
    path:
      description: Where it is on the builder (absent in check mode for a wheel not built yet).
      type: str
    sha256:
      description: Its sha256.
      type: str
    built_from:
      description: Provenance, C(sdist), C(sdist_sha256), C(key), C(python), C(glibc) and C(compiler).
      type: dict
  sample:
    - filename: netifaces-0.11.0-cp39-cp39-linux_x86_64.whl
      path: /var/cache/airgap-packages/python-built/043a79146eb2907e/netifaces-0.11.0-cp39-cp39-linux_x86_64.whl
      sha256: 9d2c4f0e61b7a3c5d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5
      built_from: {sdist: netifaces-0.11.0.tar.gz, key: cp39-manylinux_2_31-x86_64-3c9d1e2f, python: 3.9.2, glibc: "2.31",
                   compiler: gcc (Debian 10.2.1-6) 10.2.1 20210110}
caches:
  description: One entry per environment key.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: Environment key; the cache directory's name.
      type: str
      returned: always
      sample: cp311-manylinux_2_36-x86_64-5c1e3a9f
    path:
      description: The cache directory.
      type: str
      returned: always
      sample: /srv/airgap/python/cp311-manylinux_2_36-x86_64-5c1e3a9f
    digest:
      description: sha256 of the manifest's canonical JSON (null in check mode when it would change).
      type: str
      returned: always
      sample: 0d6c3c0f6e1b0b8a9a4f1d1e1b3d2c9a8f7e6d5c4b3a29181716151413121110
    artifacts:
      description: Number of files the manifest lists.
      type: int
      returned: always
      sample: 5
    added:
      description: Files the manifest lists now and did not before.
      type: list
      elements: str
      returned: always
      sample: [PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl]
    removed:
      description: Files the manifest no longer lists.
      type: list
      elements: str
      returned: always
      sample: []
    repaired:
      description: Listed files that were missing or altered on disk and were fetched again.
      type: list
      elements: str
      returned: always
      sample: []
    pruned:
      description: Files removed from the directory because the manifest does not list them (O(prune)).
      type: list
      elements: str
      returned: always
      sample: [six-1.16.0-py2.py3-none-any.whl]
    skipped_requirements:
      description: Requirements whose environment markers exclude this platform.
      type: list
      elements: str
      returned: always
      sample: ['pywin32; sys_platform == "win32"']
    resolved:
      description: Whether this run resolved against the indexes (false means no network access for this cache).
      type: bool
      returned: always
      sample: false
    signed:
      description: Whether this task wrote (or in check mode would write) the manifest's signature, C(manifest.json.sig).
      type: bool
      returned: when O(signing_key) is set, except in check mode for a cache not built yet
      sample: false
    changed:
      description: Whether this cache changed (or would, in check mode).
      type: bool
      returned: always
      sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import settle_cache_signatures, signer_from, trust_from
from ansible_collections.airgap.packages.plugins.module_utils._controller.python.wheel_cache import ARGUMENT_SPEC, Options, build_caches, module_result
from ansible_collections.airgap.packages.plugins.module_utils._target.python.wheel_build import build_staged


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        if params['build_from']:
            module.exit_json(**build_staged(params['build_from'], params['dest'], check_mode=module.check_mode))
        signer, trust = signer_from(params['signing_key']), trust_from(params['trusted_keys'])
        report = build_caches(Options(**params), check_mode=module.check_mode)
        settle_cache_signatures(report[1], signer, trust, module.check_mode)
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**module_result(report, module._diff))


if __name__ == '__main__':
    main()
