# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the gem_offline tests and benchmark: gem caches built on the controller, extra
test gems, and shipping a directory to a host.

build_gem_cache() lays a cache out as gem_cache does (the .gem files + manifest.json with
ecosystem ruby, per-top-level closures, requires as "name requirement", native = has
extensions), reading each gem's specification with the controller's ruby.
"""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile

from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import (
    Artifact, Manifest, TopLevel, sha256_file, write_manifest)

SOURCE_DATE_EPOCH = '1700000000'

_SPEC_SCRIPT = r'''
require 'json'
require 'rubygems/package'
ARGV.each do |path|
  spec = Gem::Package.new(path).spec
  puts JSON.generate('path' => path, 'name' => spec.name, 'version' => spec.version.to_s, 'platform' => spec.platform.to_s,
                     'native' => !spec.extensions.empty?,
                     'requires' => spec.runtime_dependencies.map { |d| "#{d.name} #{d.requirement}" })
end
'''


def gem_specs(paths):
    """name, version, platform, native, requires of each .gem file, read by ruby."""
    done = subprocess.run(['ruby', '-e', _SPEC_SCRIPT] + list(paths), capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def closure(name, requires_of):
    seen, queue = set(), [name]
    while queue:
        current = queue.pop()
        if current in seen or current not in requires_of:
            continue
        seen.add(current)
        queue.extend(requires_of[current])
    return sorted(seen)


def build_gem_cache(dest, gem_paths, top_level, key='ruby-3.1-x86_64-linux'):
    """Copy gem files into dest and write the manifest; top_level: names of the top-level gems."""
    os.makedirs(dest, exist_ok=True)
    artifacts, requires_of = [], {}
    for spec in gem_specs(gem_paths):
        filename = os.path.basename(spec['path'])
        target = os.path.join(dest, filename)
        shutil.copyfile(spec['path'], target)
        artifacts.append(Artifact(filename, spec['name'], spec['version'], os.path.getsize(target), sha256_file(target),
                                  spec['platform'], spec['requires'], 'tests', False, spec['native']))
        requires_of[spec['name']] = [text.split(' ', 1)[0] for text in spec['requires']]
    tops = [TopLevel(name, name, closure(name, requires_of)) for name in top_level]
    manifest = Manifest('ruby', {'key': key}, tops, artifacts, generator='tests')
    write_manifest(dest, manifest)
    return manifest


def build_gem(work, name, version, files, executables=(), extensions=(), requires=()):
    """gem build a small gem from {relative path: text}; returns the .gem path."""
    source = os.path.join(work, '%s-%s-src' % (name, version))
    for relative, text in files.items():
        path = os.path.join(source, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(text)
        if relative.startswith('exe/'):
            os.chmod(path, 0o755)
    lines = ['Gem::Specification.new do |s|',
             '  s.name = %r' % name, '  s.version = %r' % version, '  s.summary = "airgap.packages gem_offline test gem"',
             '  s.authors = ["airgap.packages"]', '  s.license = "GPL-3.0-or-later"', '  s.files = %r' % sorted(files)]
    if executables:
        lines += ['  s.bindir = "exe"', '  s.executables = %r' % list(executables)]
    if extensions:
        lines.append('  s.extensions = %r' % list(extensions))
    lines += ['  s.add_runtime_dependency %r, %r' % (dep, req) for dep, req in requires]
    lines.append('end')
    with open(os.path.join(source, '%s.gemspec' % name), 'w') as handle:
        handle.write('\n'.join(lines).replace("'", '"') + '\n')
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
    subprocess.run(['gem', 'build', '%s.gemspec' % name], cwd=source, env=env, check=True, capture_output=True)
    built = os.path.join(work, '%s-%s.gem' % (name, version))
    shutil.move(os.path.join(source, '%s-%s.gem' % (name, version)), built)
    return built


def broken_native_gem(work):
    """A gem whose C extension does not compile."""
    return build_gem(work, 'airgap_broken', '1.0.0', {
        'lib/airgap_broken.rb': 'require "airgap_broken/airgap_broken"\n',
        'ext/airgap_broken/extconf.rb': 'require "mkmf"\ncreate_makefile("airgap_broken/airgap_broken")\n',
        'ext/airgap_broken/airgap_broken.c': 'this is not C;\n',
    }, extensions=['ext/airgap_broken/extconf.rb'])


def tool_gem(work):
    """A plain gem with an executable, for bindir and sync tests."""
    return build_gem(work, 'airgap_tool', '1.0.0', {
        'lib/airgap_tool.rb': 'module AirgapTool; end\n',
        'exe/airgap_tool': '#!/usr/bin/env ruby\nputs "airgap_tool 1.0.0"\n',
    }, executables=['airgap_tool'])


def repack_without_checksums(path):
    """Rewrite a .gem without its checksums.yaml.gz, as a tampered mirror might: RubyGems installs it anyway."""
    with tempfile.TemporaryDirectory() as work:
        with tarfile.open(path) as archive:
            members = [m for m in archive.getmembers() if m.name != 'checksums.yaml.gz']
            archive.extractall(work, members=members)
        with tarfile.open(path, 'w', format=tarfile.USTAR_FORMAT) as archive:
            for member in members:
                archive.add(os.path.join(work, member.name), arcname=member.name)
