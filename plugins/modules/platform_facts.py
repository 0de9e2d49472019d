#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs on the target: describes what decides which wheel and gem fit it, with standard library only."""

DOCUMENTATION = r'''
---
module: platform_facts
short_description: Facts that decide which wheels and gems fit a host, and its environment keys
version_added: 0.1.0
description:
  - Describes the Python interpreter of a host (and Ruby, when present) by what decides which
    artifacts fit it; returns it as the C(airgap_platform) fact.
  - For Python, the interpreter path, version, implementation, ABI, the ordered list of supported
    wheel tags, architecture, libc flavour and version (glibc or musl), whether pip is importable,
    and the PEP 508 marker variables so that the controller can evaluate environment markers for
    this host.
  - For Ruby, its version, ABI version, C(Gem::Platform.local) and the RubyGems version.
  - An B(environment key) per ecosystem, equal for two hosts exactly when the same artifacts fit
    both. The Python key is C(<interpreter><abi flags>-<libc tag>-<arch>-<hash>), where the hash is
    the first 8 hex digits of the sha256 of the implementation, Python C(X.Y), ABI, the ordered tag
    list and the marker variables C(os_name), C(sys_platform), C(platform_system),
    C(platform_machine), C(platform_python_implementation), C(implementation_name) and
    C(python_version) (patch version and kernel release are left out because no wheel tag depends on them).
    The Ruby key is C(ruby-<X.Y.0>-<Gem::Platform.local>).
  - Needs only the host's own Python standard library (no C(packaging), no pip). Never changes
    anything.
  - M(airgap.packages.wheel_cache) names one cache directory after each Python key.
author:
  - airgap.packages maintainers (@airgap-packages)
extends_documentation_fragment:
  - airgap.packages.attributes
  - airgap.packages.attributes.info_module
  - airgap.packages.attributes.facts
  - airgap.packages.platform_facts
attributes:
  facts:
    details: Returns the C(airgap_platform) fact.
  platform:
    details: Linux hosts (glibc or musl); elsewhere the sysconfig platform is the only platform tag.
notes:
  - Python 3.8 or newer on the host.
seealso:
  - module: airgap.packages.wheel_cache
  - module: airgap.packages.pip_offline
'''

EXAMPLES = r'''
- name: Describe each target
  airgap.packages.platform_facts:

- name: Show the key its wheel cache is named after
  ansible.builtin.debug:
    var: ansible_facts.airgap_platform.python.key

- name: Describe the interpreter of an application's virtual environment, without Ruby
  airgap.packages.platform_facts:
    python_interpreter: /opt/app/venv/bin/python
    gather_ruby: false
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    airgap_platform:
      description: What decides which artifacts fit this host.
      returned: always
      type: dict
      contains:
        key:
          description: Combined key, C(<python key>+<ruby key>), or the Python key alone without Ruby.
          returned: always
          type: str
          sample: cp311-manylinux_2_36-x86_64-5c1e3a9f+ruby-3.1.0-x86_64-linux
        python:
          description: The described Python interpreter.
          returned: always
          type: dict
          contains:
            interpreter:
              description: Path of the interpreter.
              type: str
              returned: always
              sample: /usr/bin/python3
            version:
              description: Full Python version.
              type: str
              returned: always
              sample: 3.11.2
            implementation:
              description: C(sys.implementation.name).
              type: str
              returned: always
              sample: cpython
            abi:
              description: The interpreter's own ABI tag.
              type: str
              returned: always
              sample: cp311
            abis:
              description: All ABI tags of the interpreter, most specific first.
              type: list
              elements: str
              returned: always
              sample: [cp311]
            interpreter_version:
              description: Interpreter version as used in tags (no dot).
              type: str
              returned: always
              sample: '311'
            platform:
              description: C(sys.platform).
              type: str
              returned: always
              sample: linux
            tags:
              description: Supported wheel tags, most specific first (as C(packaging.tags.sys_tags) orders them).
              type: list
              elements: str
              returned: always
              sample: [cp311-cp311-manylinux_2_36_x86_64, cp311-cp311-manylinux_2_35_x86_64, py3-none-any]
            arch:
              description: Wheel architecture.
              type: str
              returned: always
              sample: x86_64
            libc:
              description: C library flavour and version.
              type: dict
              returned: always
              sample: {flavor: glibc, version: '2.36'}
              contains:
                flavor:
                  description: C(glibc), C(musl), or null when neither was found.
                  type: str
                  returned: always
                  sample: glibc
                version:
                  description: Its version, C(X.Y); null when unknown.
                  type: str
                  returned: always
                  sample: '2.36'
            pip_available:
              description: Whether C(pip) is importable by the interpreter.
              type: bool
              returned: always
              sample: true
            marker_environment:
              description: PEP 508 marker variables of the interpreter.
              type: dict
              returned: always
              sample: {python_version: '3.11', sys_platform: linux, platform_machine: x86_64}
              contains:
                implementation_name:
                  description: C(sys.implementation.name).
                  type: str
                  returned: always
                  sample: 'cpython'
                implementation_version:
                  description: Version of the implementation.
                  type: str
                  returned: always
                  sample: '3.11.2'
                os_name:
                  description: C(os.name).
                  type: str
                  returned: always
                  sample: 'posix'
                platform_machine:
                  description: C(platform.machine()).
                  type: str
                  returned: always
                  sample: 'x86_64'
                platform_release:
                  description: C(platform.release()).
                  type: str
                  returned: always
                  sample: '6.1.0-18-amd64'
                platform_system:
                  description: C(platform.system()).
                  type: str
                  returned: always
                  sample: 'Linux'
                platform_version:
                  description: C(platform.version()).
                  type: str
                  returned: always
                  sample: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)'
                python_full_version:
                  description: C(platform.python_version()).
                  type: str
                  returned: always
                  sample: '3.11.2'
                platform_python_implementation:
                  description: C(platform.python_implementation()).
                  type: str
                  returned: always
                  sample: 'CPython'
                python_version:
                  description: Python C(X.Y).
                  type: str
                  returned: always
                  sample: '3.11'
                sys_platform:
                  description: C(sys.platform).
                  type: str
                  returned: always
                  sample: 'linux'
            key:
              description: The Python environment key; M(airgap.packages.wheel_cache) names a cache directory after it.
              type: str
              returned: always
              sample: cp311-manylinux_2_36-x86_64-5c1e3a9f
        ruby:
          description: The described Ruby, or null when Ruby is absent or not gathered.
          returned: always
          type: dict
          contains:
            executable:
              description: Path of the Ruby interpreter.
              type: str
              returned: when Ruby is present
              sample: /usr/bin/ruby
            version:
              description: C(RUBY_VERSION).
              type: str
              returned: when Ruby is present
              sample: 3.1.2
            abi_version:
              description: C(RbConfig::CONFIG["ruby_version"]), the directory gems install under.
              type: str
              returned: when Ruby is present
              sample: 3.1.0
            engine:
              description: C(RUBY_ENGINE).
              type: str
              returned: when Ruby is present
              sample: ruby
            platform:
              description: C(Gem::Platform.local) as a string.
              type: str
              returned: when Ruby is present
              sample: x86_64-linux
            rubygems_version:
              description: C(Gem::VERSION).
              type: str
              returned: when Ruby is present
              sample: 3.3.15
            key:
              description: The Ruby environment key, C(ruby-<abi_version>-<platform>); M(airgap.packages.gem_cache) names a cache directory after it.
              type: str
              returned: when Ruby is present
              sample: ruby-3.1.0-x86_64-linux
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._target.platform_facts import FACTS_ARGUMENT_SPEC, gather_platform_from_params


def main():
    module = AnsibleModule(
        argument_spec=FACTS_ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    try:
        facts = gather_platform_from_params(module)
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(changed=False, ansible_facts={'airgap_platform': facts})


if __name__ == '__main__':
    main()
