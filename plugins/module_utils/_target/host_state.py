# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host already holds: the caches staged under a staging root, and which of them it is settled on.

A staged digest is settled when its copy verifies, ship_cache would prune nothing beside it,
and every environment asked about already matches it: shipping it and installing from it would
both do nothing. The answers reuse the planning of ship_cache, pip_offline and gem_offline,
read-only. Runs on targets: standard library only.
"""

import os

from .python import python_env
from .python.pip_offline import PipOffline, Request, parse_package
from .ruby import gem_plan, gem_target
from .ruby.gem_offline import DEFAULT_EXECUTABLE, GemOffline, GemOfflineRequest
from .ruby.gem_plan import check_gem_name
from .._common.errors import AirgapError
from .._common.fsutil import check_directory_to_write
from .._common.manifest import load_manifest
from .._common.staging import check_keep, is_staged, stage_is_trusted, staged_names, staged_path, stale_digests


def check_questions(python, ruby):
    """Refuse, naming the option, what no ship, fetch or install could act on. The stage itself is judged
    later: one that ship_cache would refuse (a link, loose permissions) holds nothing, and ship_cache names why."""
    for name, part in (('python', python), ('ruby', ruby)):
        if part:
            check_directory_to_write(name + '.stage', part['stage'])
            check_keep(part['keep'], name + '.keep')
    for index, environment in enumerate(python['environments'] if python else []):
        option = 'python.environments[%d]' % index
        check_directory_to_write(option + '.virtualenv', environment['virtualenv'])
        for package in environment['packages']:
            parse_package(option + '.packages', package)
    if ruby:
        if ruby['install_dir']:
            check_directory_to_write('ruby.install_dir', ruby['install_dir'])
        for gem in ruby['gems']:
            check_gem_name(gem, 'ruby.gems')


def staged_digests(root):
    """Names of the digest directories under root, sorted (links under digest names are not staged caches)."""
    return staged_names(root)


def settled_digests(root, keep, matches, trust=None):
    """The staged digests whose copy verifies (signed by a trusted key, with trust), that leave nothing to prune,
    and whose path satisfies matches."""
    settled = []
    for digest in staged_digests(root):
        if stale_digests(root, keep, digest) or not is_staged(root, digest, trust):
            continue
        try:
            if matches(os.path.join(root, digest)):
                settled.append(digest)
        except AirgapError:
            pass  # Whatever is wrong, the install module reports it when it runs.
    return settled


def python_environments_match(environments, trusted_keys=None):
    """matches(cache) for settled_digests: each virtualenv exists and pip_offline would change nothing in it."""
    def matches(cache):
        for environment in environments:
            if not python_env.is_virtualenv(environment['virtualenv']):
                return False
            request = Request(cache=cache, packages=environment['packages'], virtualenv=environment['virtualenv'],
                              python=environment['python'], sync=environment['sync'], check_mode=True,
                              trusted_keys=trusted_keys)
            if PipOffline(request).plan().changes:
                return False
        return True
    return matches


def gem_probe(root, install_dir, environ=None, check_mode=False):
    """One probe of install_dir (the default gem dir when None) by the ruby gem_offline would use, answering for
    every cache staged under root; None when this host has no gem. host_state's one Ruby process, which a trusted
    root spares while the answer it records there still holds (gem_target.ProbeRecord)."""
    environ = dict(os.environ if environ is None else environ)
    try:
        command = gem_target.locate_gem(DEFAULT_EXECUTABLE, environ.get('PATH', os.defpath))
    except AirgapError:
        return None
    trusted = stage_is_trusted(root)
    platforms = set()
    for digest in staged_digests(root) if trusted else []:
        try:
            manifest = load_manifest(staged_path(root, digest))
        except AirgapError:
            continue
        platforms.update(gem_plan.platform_of(a.platform) for a in manifest.artifacts)
    return gem_target.probe(command, environ, install_dir, platforms=platforms, record_dir=root if trusted else None,
                            check_mode=check_mode)


def gems_match(install_dir, gems, trusted_keys=None, probe=None):
    """matches(cache) for settled_digests: gem_offline would change nothing in install_dir."""
    def matches(cache):
        request = GemOfflineRequest(cache=cache, gems=gems, install_dir=install_dir, trusted_keys=trusted_keys)
        return not GemOffline(request, check_mode=True, probe=probe).run()['changed']
    return matches


def holdings(root, keep, matches, trust=None):
    """What root holds. A staging directory that ship_cache and fetch_cache would refuse (a link, or a path that
    others could change) holds nothing: they then refuse it, naming why."""
    if not stage_is_trusted(root):
        return {'stage': root, 'staged': [], 'settled': []}
    return {'stage': root, 'staged': staged_digests(root), 'settled': settled_digests(root, keep, matches, trust)}
