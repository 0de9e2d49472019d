#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs on the target: installs a verified wheel cache strictly offline, with the target's interpreter."""

DOCUMENTATION = r'''
---
module: pip_offline
short_description: Verify a wheel cache and install it strictly offline, idempotently
version_added: 0.1.0
description:
  - Installs the wheels of a cache built by M(airgap.packages.wheel_cache) into a virtualenv
    (created when absent) or into a given interpreter, on a host without network access.
  - B(Plan first.) What is installed is read from the C(*.dist-info) directories the target
    interpreter sees (one short subprocess, no pip) and compared with what the manifest pins;
    the plan lists per package C(install), C(upgrade), C(downgrade), C(reinstall) or C(remove).
    A converged environment reports C(changed=false) and neither pip nor uv runs. Check mode
    returns the same plan and changes nothing; diff mode shows the versions before and after.
  - B(Damaged installs are drift.) A distribution of the environment whose C(.dist-info) lacks
    C(METADATA) or a valid C(RECORD), or whose C(RECORD) lists files that are missing or of
    another size (what an installer killed mid-way leaves), is planned as C(reinstall) and
    reported in RV(broken). Compiled C(.pyc) files may be missing. The repair removes the broken
    C(.dist-info) and every file its C(RECORD) lists that still has the recorded hash (files
    another distribution overwrote stay), then installs the pinned wheel.
  - B(The cache must fit the interpreter, whatever the environment holds.) On every run, also a
    converged one, the wheels are checked for tag compatibility with the environment's
    interpreter, and a Python version, implementation or architecture that the manifest's
    environment records must be the interpreter's. An existing virtualenv is refused a cache
    built for another Python or architecture exactly as a new one is, naming the tags.
  - B(Verify before installing.) Every wheel the plan installs (and the pip or uv wheel that
    installs it) is checked for size and sha256 against the manifest, and every wheel of the
    selected requirements for tag compatibility with the target interpreter, before anything
    runs. A missing, truncated or altered file, a dependency the manifest does not hold, an
    sdist, or a wheel for another platform stops the task with an error naming the file and
    the expected and actual sha256, size or tags; nothing is installed, no virtualenv is created.
  - B(Wheels are checked before any installer sees them.) Each wheel to install (and the pip or
    uv wheel that installs it) is read member by member, and must have no absolute paths or C(..), only
    regular files and directories (no links, no device files), every member listed in C(RECORD)
    with the sha256 (or stronger) hash and the size it has, one C(.dist-info) directory whose
    name, and whose C(METADATA) C(Name) and C(Version), are those of the file name and of the
    manifest. A file that is not a zip archive, such as an sdist renamed C(.whl), is refused as
    such. The error names the file and the member.
  - B(Free space first.) Before anything is written, the free space and inodes of the
    environment's filesystem (and, for uv, of the temporary directory's when that is another one)
    are compared with what the plan installs, that is every file of its wheels rounded up to the
    filesystem block, a C(.pyc) beside each C(.py) when compiling, a block per directory, plus
    10% and 1 MiB. A shortfall fails the task with required versus available per filesystem
    (also in RV(space) of the failed result); nothing is installed.
  - B(A failed run leaves the environment as it was.) The approach is undo, not a side copy. Just
    before pip or uv runs, the environment's install directories (the virtualenv, or the
    interpreter's site and script directories) are listed, and every file the run may replace
    or remove is hard-linked into a private C(.airgap-undo-*) directory inside the environment
    (small scripts are copied), which takes no space for the data. When the installer fails
    (the disk fills up, it dies, its check fails, or the result does not match the plan), every
    path the listing does not have is removed and each kept file is renamed back; this needs no
    free space, so it works on a full disk. A virtualenv the run created is removed again. A
    run that is killed outright cannot undo; the next run removes its C(.airgap-undo-*)
    directory and repairs what it finds broken.
  - B(Strictly offline.) The installer sees only a private directory holding links to the
    planned, verified wheels, with C(--no-index), binary wheels only, exact pins and
    C(--require-hashes); files in the cache that the manifest does not list are never installed.
    C(PIP_*), C(UV_*) and C(PYTHON*) variables and pip or uv configuration files on the target
    have no effect. Afterwards C(pip check) (or C(uv pip check)) must pass for every package of
    the selection and every package the run touched, or the task fails with its output; broken
    requirements among packages the task does not manage (a system interpreter's own) are
    reported as warnings.
  - B(Bare targets.) A virtualenv is created with the C(venv) module without pip, then pip is
    installed into it from the cache. An interpreter without C(venv) gets a PEP 405 virtualenv
    laid out by hand (C(pyvenv.cfg) and C(bin/python), no activate scripts). An interpreter
    without pip is served by pip run straight from its cached wheel, or by uv.
  - One lock per environment (a file beside the virtualenv, or beside the interpreter's
    site-packages) serialises concurrent runs against it; the plan is computed again under
    the lock.
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
      - Directory on the target holding the wheels and their C(manifest.json), as built by
        M(airgap.packages.wheel_cache) and shipped to the host.
    type: path
    required: true
  packages:
    description:
      - Top-level requirements of the manifest to install (or remove), each with its dependency
        closure as recorded in the manifest. Each is a project name (V(requests)), compared PEP 503
        normalised, or a requirement exactly as the cache was built from it (V(requests>=2.31),
        whitespace aside), which must be one the manifest records.
      - When omitted, all top-level requirements of the manifest.
    type: list
    elements: str
  virtualenv:
    description:
      - Absolute path of the virtualenv to install into; created when absent (from O(python) when given,
        else from the interpreter running this module). Refused on a read-only or kernel filesystem (C(/proc)).
      - One of O(virtualenv) and O(python) is required.
    type: path
  python:
    description:
      - Without O(virtualenv), the interpreter to install into (its C(sysconfig) purelib and
        platlib directories). A name without a slash is looked up on C(PATH).
      - With O(virtualenv), the interpreter that creates the virtualenv when it does not exist.
    type: path
  state:
    description:
      - V(present) installs the pinned versions of the selected requirements and their
        dependencies, upgrading or downgrading what differs.
      - V(absent) removes the selected top-level requirements (not their dependencies) from the
        environment. It never creates a virtualenv.
    type: str
    choices: [present, absent]
    default: present
  sync:
    description:
      - With O(state=present), also remove from the environment every distribution that the
        selected requirements do not pin, so that it holds exactly the closure.
      - pip, setuptools and wheel, which a virtualenv is seeded with, are kept unless the cache
        pins them. Distributions outside the environment's own site-packages (for example the
        system's, seen through a system interpreter) are never removed.
    type: bool
    default: false
  installer:
    description:
      - V(auto) uses uv when the cache holds a uv wheel that runs on this host, pip otherwise.
      - V(pip) uses the environment's pip when it has one (19.0 or newer), else pip run from
        the cached pip wheel.
      - V(uv) uses uv from the cached uv wheel, and fails when the cache has none. uv is never
        installed into the target environment; its binary is extracted from the verified wheel,
        checked against the wheel's C(RECORD), and kept in C(~/.cache/airgap-packages/uv-<sha256>/)
        of the remote user (a private directory; elsewhere the module's temporary directory), where
        later runs only check it again.
    type: str
    choices: [auto, pip, uv]
    default: auto
  compile_bytecode:
    description:
      - Compile the installed Python files to bytecode, as pip does by default.
    type: bool
    default: true
  break_system_packages:
    description:
      - Allow installing into an interpreter marked externally managed (PEP 668), such as
        Debian's C(/usr/bin/python3). Without it such a target fails with a hint to use a
        virtualenv.
    type: bool
    default: false
attributes:
  check_mode:
    details: Reports the exact plan (and verifies the cache) without changing anything.
  diff_mode:
    details: Shows the versions of the touched packages before and after.
  platform:
    details: Linux hosts with CPython 3.8 or newer; wheel tags decide what fits.
notes:
  - Needs Python 3.8 or newer on the host; the module itself uses only the standard library.
  - Artifacts the plan does not install are not hashed, so a converged environment costs one
    short probe of the interpreter and no read of the wheels. The probe runs in-process for a
    virtualenv of the interpreter running the module, else as one subprocess of its interpreter.
  - The undo covers the environment's install directories. Files a wheel puts elsewhere through
    its C(.data/data) or C(.data/headers) directory into a system interpreter's prefix are not
    covered; a file that an installer rewrote in place without a copy kept is named in the error.
seealso:
  - module: airgap.packages.wheel_cache
  - module: airgap.packages.platform_facts
'''

EXAMPLES = r'''
- name: Ship the wheel cache built for this kind of host
  airgap.packages.ship_cache:
    src: /srv/airgap/python/cp311-manylinux_2_36-x86_64-5c1e3a9f
    dest: /var/cache/airgap/python
  register: shipped

- name: Install every requirement of the shipped cache into the application's virtualenv
  airgap.packages.pip_offline:
    cache: "{{ shipped.path }}"
    virtualenv: /opt/app/venv

- name: Install only flask (and its dependencies), and remove everything else the cache does not pin
  airgap.packages.pip_offline:
    cache: "{{ shipped.path }}"
    virtualenv: /opt/app/venv
    packages: [flask]
    sync: true

- name: Use uv from the cache, without bytecode compilation
  airgap.packages.pip_offline:
    cache: "{{ shipped.path }}"
    virtualenv: /opt/tools
    installer: uv
    compile_bytecode: false

- name: Install into an existing interpreter
  airgap.packages.pip_offline:
    cache: "{{ shipped.path }}"
    python: /opt/python3.11/bin/python3

- name: Remove a requirement
  airgap.packages.pip_offline:
    cache: "{{ shipped.path }}"
    virtualenv: /opt/app/venv
    packages: [rich]
    state: absent
'''

RETURN = r'''
changes:
  description:
    - What was done (or, in check mode, would be done), one entry per package touched.
    - Empty when the environment already matches the manifest.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: PEP 503 normalised project name.
      type: str
      returned: always
      sample: flask
    action:
      description: One of C(install), C(upgrade), C(downgrade), C(reinstall) (same version, damaged install), C(remove).
      type: str
      returned: always
      sample: upgrade
    before:
      description: Version installed before, null when absent.
      type: str
      returned: always
      sample: 3.0.3
    after:
      description: Version installed after, null when removed.
      type: str
      returned: always
      sample: 3.1.3
interpreter:
  description: The interpreter that was (or would be) installed into.
  returned: always
  type: str
  sample: /opt/app/venv/bin/python
python_version:
  description: Version of that interpreter (of the base interpreter while the virtualenv does not exist yet).
  returned: always
  type: str
  sample: 3.11.2
installer:
  description: C(pip) or C(uv) when one ran, null when nothing had to be done or in check mode.
  returned: always
  type: str
  sample: uv
manifest_digest:
  description: sha256 of the canonical manifest, the idempotency key of the cache.
  returned: always
  type: str
  sample: 0f1c8e3d7b9a4f2e6c5d8b1a3e7f9c2d4b6a8e0f1c3d5b7a9e2f4c6d8b0a1c3e
environment_key:
  description: Environment key the cache was built for.
  returned: always
  type: str
  sample: cp311-manylinux_2_36-x86_64-5c1e3a9f
virtualenv:
  description: Absolute path of the virtualenv, null when installing into O(python).
  returned: always
  type: str
  sample: /opt/app/venv
virtualenv_created:
  description: Whether the virtualenv was (or, in check mode, would be) created.
  returned: always
  type: bool
  sample: false
site_packages:
  description: The purelib directory installs go to; null while the virtualenv does not exist yet.
  returned: always
  type: str
  sample: /opt/app/venv/lib/python3.11/site-packages
verified:
  description: Cache files whose size and sha256 (and, for wheels, members) were checked in this run.
  returned: always
  type: list
  elements: str
  sample: [flask-3.1.3-py3-none-any.whl, pip-26.3-py3-none-any.whl]
broken:
  description:
    - Distributions of the environment that the plan reinstalls because their C(.dist-info) is
      damaged (see the description), as found before the run.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: PEP 503 normalised project name.
      type: str
      returned: always
      sample: flask
    version:
      description: The version its C(METADATA) states.
      type: str
      returned: always
      sample: 3.1.3
    path:
      description: Its C(.dist-info) directory.
      type: str
      returned: always
      sample: /opt/app/venv/lib/python3.11/site-packages/flask-3.1.3.dist-info
    problem:
      description: What is wrong with it.
      type: str
      returned: always
      sample: RECORD is missing
problems:
  description:
    - Only in a result that failed verification, one entry per problem found.
    - A file that is missing, truncated or altered has C(expected_size), C(expected_sha256) and the actual
      C(size) (or C(actual_size)) and C(actual_sha256); a wheel for another platform has the C(tags) it is for;
      a wheel refused member by member names the C(member); a cache built for another Python has the
      C(field) that differs with the C(cache)'s value and the C(interpreter)'s.
  returned: when the cache fails verification
  type: list
  elements: dict
  contains:
    file:
      description: Path of the file at fault.
      type: str
      returned: when a file is at fault
      sample: /var/cache/airgap/python/3b1f0c0e6f3d9c7b4e1f3f4b2a8c5d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8/flask-3.1.3-py3-none-any.whl
    problem:
      description: What is wrong, such as C(missing), C(size mismatch), C(sha256 mismatch), C(incompatible tags).
      type: str
      returned: always
      sample: sha256 mismatch
  sample:
    - {file: /var/cache/airgap/python/3b1f.../flask-3.1.3-py3-none-any.whl, problem: sha256 mismatch,
       expected_sha256: 9f2c..., actual_sha256: 1a7e..., size: 103140}
space:
  description:
    - Only in a result that failed for lack of space, one entry per filesystem that is short.
  returned: when the free space check fails
  type: list
  elements: dict
  contains:
    path:
      description: Mount point of the filesystem.
      type: str
      returned: always
      sample: /opt
    for:
      description: The directory the plan writes to on it.
      type: str
      returned: always
      sample: /opt/app/venv
    required:
      description: Bytes the plan needs there, margin included.
      type: int
      returned: always
      sample: 26653900
    available:
      description: Bytes available there.
      type: int
      returned: always
      sample: 4194304
    installed_size:
      description: Bytes the installed files take, before the margin.
      type: int
      returned: always
      sample: 22228992
    inodes_required:
      description: Files and directories the plan creates.
      type: int
      returned: always
      sample: 1040
    inodes_available:
      description: Inodes available there; null where the filesystem does not count them.
      type: int
      returned: always
      sample: 3085509
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError
from ansible_collections.airgap.packages.plugins.module_utils._common.signing import TRUST_ARGUMENT_SPEC
from ansible_collections.airgap.packages.plugins.module_utils._target.python.pip_offline import PipOffline, Request


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cache=dict(type='path', required=True),
            packages=dict(type='list', elements='str'),
            virtualenv=dict(type='path'),
            python=dict(type='path'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            sync=dict(type='bool', default=False),
            installer=dict(type='str', choices=['auto', 'pip', 'uv'], default='auto'),
            compile_bytecode=dict(type='bool', default=True),
            break_system_packages=dict(type='bool', default=False),
            **TRUST_ARGUMENT_SPEC
        ),
        required_one_of=[['virtualenv', 'python']],
        supports_check_mode=True,
    )
    params = module.params
    python = params['python']
    if python and os.sep not in python:
        python = module.get_bin_path(python, required=True)
    try:
        request = Request(
            cache=params['cache'], packages=params['packages'], virtualenv=params['virtualenv'], python=python,
            state=params['state'], sync=params['sync'], installer=params['installer'],
            compile_bytecode=params['compile_bytecode'], break_system_packages=params['break_system_packages'],
            check_mode=module.check_mode, tmpdir=module.tmpdir, trusted_keys=params['trusted_keys'])
        result = PipOffline(request, warn=module.warn).run()
    except AirgapError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
