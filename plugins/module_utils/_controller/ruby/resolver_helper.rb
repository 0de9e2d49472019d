# frozen_string_literal: true

# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# RubyGems answers gem_cache's Ruby questions on the controller: which gems a request resolves to
# for a target, and what a fetched gem holds. gem_resolver.py runs this file with `ruby -e` in a private, empty RubyGems
# environment (its own GEM_HOME, HOME and gemrc) and writes one JSON request to stdin:
#
#   {"command": "resolve", "sources": [url], "targets": [{"key", "platform", "ruby_version",
#       "rubygems_version", "requests": [{"name", "requirements": [text]}], "prefer": {name: version}}]}
#   {"command": "fetch", "dir": path, "items": [{"filename", "urls": [url]}]}
#   {"command": "gemrc_sources"}      (run with this machine's own environment, not the private one)
#   {"command": "self_check", "target": {"platform", "ruby_version", "rubygems_version"}}
#
# It answers one JSON document on stdout: {"ok": true, ...} or {"ok": false, "error": {"kind",
# "message", ...}}. Source URLs, which may carry credentials, travel on stdin only. Nothing is
# installed or compiled. Standard library and RubyGems 3.x only.

require 'json'
require 'rubygems'
require 'rubygems/remote_fetcher'
require 'rubygems/package'
require 'rubygems/resolver'

MOLINILLO = defined?(Gem::Resolver::Molinillo) ? Gem::Resolver::Molinillo : Gem::Molinillo
LOCAL = Gem::Platform.local
RUBY_VERSION_HERE = Gem.ruby_version
RUBYGEMS_VERSION_HERE = Gem.rubygems_version

def answer(obj)
  STDOUT.binmode
  STDOUT.write(JSON.generate(obj))
  STDOUT.flush
  exit! 0
end

def failure(kind, message, extra = {})
  { 'ok' => false, 'error' => { 'kind' => kind, 'message' => message.to_s }.merge(extra) }
end

# --- guarded patches of RubyGems internals ------------------------------------------------------
#
# RubyGems resolves for the machine it runs on. To resolve for a target, three of its answers are
# replaced (patches 1 to 3 below), and Gem::Resolver#resolve is run in a copy (run_resolution).
# Each patch is written against one shape of the code it changes: before patching, the helper
# checks that shape (the method, its owner, its parameters), and after patching that the patch took
# effect. Otherwise it stops with an error naming the method and this RubyGems version rather than
# resolving for the controller instead of the target.

class PatchError < StandardError; end

def guard_method!(owner, name, label, parameter_kinds)
  unless owner.method_defined?(name) || owner.private_method_defined?(name)
    raise PatchError, "#{label} is gone in RubyGems #{Gem::VERSION}"
  end
  method = owner.instance_method(name)
  unless method.owner == owner
    raise PatchError, "#{label} is now defined by #{method.owner} in RubyGems #{Gem::VERSION}, not by #{owner}"
  end
  kinds = method.parameters.map(&:first)
  return if parameter_kinds.include?(kinds)

  raise PatchError, "#{label} takes #{method.parameters.inspect} in RubyGems #{Gem::VERSION}, " \
                    "expected parameters of kinds #{parameter_kinds.map(&:inspect).join(' or ')}"
end

def check_effect!(label, seen, wanted)
  return if seen == wanted

  raise PatchError, "#{label} answers #{seen} after the patch in RubyGems #{Gem::VERSION}, expected #{wanted}"
end

# Patch 1: Gem::Platform.local. Gem::Resolver#search_for orders the candidates of one version by
# whether they match Gem::Platform.local, so that a precompiled gem for the local platform wins over
# the ruby one. RubyGems memoises that platform in @local; it must be the target's.
def patch_local_platform!(platform)
  guard_method!(Gem::Platform.singleton_class, :local, 'Gem::Platform.local', [[], [:key]])
  Gem::Platform.instance_variable_set(:@local, platform)
  check_effect!('Gem::Platform.local', Gem::Platform.local, platform)
end

# Patches 2 and 3: Gem.ruby_version and Gem.rubygems_version. The resolver checks every candidate's
# required_ruby_version and required_rubygems_version against them; they must answer for the target.
def patch_version!(name, version)
  label = "Gem.#{name}"
  guard_method!(Gem.singleton_class, name, label, [[]])
  Gem.singleton_class.send(:remove_method, name)
  Gem.singleton_class.send(:define_method, name) { version }
  check_effect!(label, Gem.public_send(name), version)
end

# run_resolution copies Gem::Resolver#resolve and calls Molinillo as it does: check those calls still fit.
def guard_resolution!
  guard_method!(Gem::Resolver, :resolve, 'Gem::Resolver#resolve', [[]])
  guard_method!(MOLINILLO::Resolver, :resolve, "#{MOLINILLO}::Resolver#resolve", [%i[req req], %i[req opt]])
  guard_method!(MOLINILLO::DependencyGraph, :initialize, "#{MOLINILLO}::DependencyGraph.new", [[]])
  guard_method!(MOLINILLO::VersionConflict, :conflicts, "#{MOLINILLO}::VersionConflict#conflicts", [[]])
  guard_method!(Gem::Resolver::Conflict, :initialize, 'Gem::Resolver::Conflict.new', [%i[req req opt], %i[req req req]])
end

# Make RubyGems answer for the target instead of this machine: platform, Ruby, RubyGems.
def target!(target)
  platform = target['platform'] == 'ruby' ? LOCAL : Gem::Platform.new(target['platform'])
  # Gem.platforms is public: the platforms whose gems install. A ruby target takes source gems only.
  Gem.platforms = target['platform'] == 'ruby' ? [Gem::Platform::RUBY] : [Gem::Platform::RUBY, platform]
  patch_local_platform!(platform)
  patch_version!(:ruby_version, target['ruby_version'] ? Gem::Version.new(target['ruby_version']) : RUBY_VERSION_HERE)
  patch_version!(:rubygems_version, target['rubygems_version'] ? Gem::Version.new(target['rubygems_version']) : RUBYGEMS_VERSION_HERE)
end

def self_check(input)
  guard_resolution!
  target!(input['target'])
  { 'ok' => true, 'rubygems_version' => Gem::VERSION, 'local' => Gem::Platform.local.to_s,
    'ruby_version' => Gem.ruby_version.to_s, 'target_rubygems_version' => Gem.rubygems_version.to_s,
    'platforms' => Gem.platforms.map(&:to_s), 'sources' => Array(Gem.configuration.sources).map(&:to_s) }
end

# --- resolving --------------------------------------------------------------------------------------

def source_problems(set)
  set.errors.select { |e| e.respond_to?(:source) && e.respond_to?(:error) }.map do |e|
    { 'source' => e.source.uri.to_s, 'message' => e.error.message }
  end
end

def available(set, name)
  req = Gem::Resolver::DependencyRequest.new(Gem::Dependency.new(name, '>= 0'), nil)
  set.find_all(req).map { |s| [s.version.to_s, s.platform.to_s] }.uniq.sort
rescue StandardError
  []
end

# Versions that match the requirement and the platform but not the target's Ruby or RubyGems.
def misfits(set, dependency)
  req = Gem::Resolver::DependencyRequest.new(dependency, nil)
  set.find_all(req).select { |s| Gem::Platform.installable?(s) }.map do |s|
    spec = s.spec
    label = s.platform.to_s == 'ruby' ? s.version.to_s : "#{s.version}-#{s.platform}"
    if !spec.required_ruby_version.satisfied_by?(Gem.ruby_version)
      "#{label} needs Ruby #{spec.required_ruby_version}"
    elsif !spec.required_rubygems_version.satisfied_by?(Gem.rubygems_version)
      "#{label} needs RubyGems #{spec.required_rubygems_version}"
    end
  end.compact.uniq
rescue StandardError
  []
end

def unsatisfiable(set, message, request)
  requester = request.requester
  failure('unsatisfiable', message, 'gem' => request.name, 'requirement' => request.dependency.requirement.to_s,
                                    'required_by' => requester && requester.spec.full_name,
                                    'available' => available(set, request.name), 'misfits' => misfits(set, request.dependency))
end

# Gem::Resolver#resolve, minus its conversion of Molinillo's conflict, which fails when no
# candidate was ever activated (all of them need another Ruby): the conflict is read here.
def run_resolution(resolver, deps)
  graph = MOLINILLO::DependencyGraph.new
  requests = deps.map { |d| Gem::Resolver::DependencyRequest.new(d, nil) }
  MOLINILLO::Resolver.new(resolver, resolver).resolve(requests, graph).tsort.map(&:payload).compact
end

def resolved_gem(request)
  spec = request.spec.spec
  { 'name' => spec.name, 'version' => spec.version.to_s, 'platform' => spec.platform.to_s,
    'filename' => spec.file_name, 'source' => request.spec.source.uri.to_s,
    'requires' => spec.runtime_dependencies.map { |d| "#{d.name} (#{d.requirement})" }.sort }
end

def unreachable(set)
  problem = source_problems(set).first
  problem && failure('unreachable', problem['message'], 'source' => problem['source'])
end

def conflict_failure(set, error)
  conflict = error.conflicts.values.first
  # Nothing was activated: every candidate failed the target's Ruby or RubyGems version.
  return unsatisfiable(set, error.message, conflict.requirement) if conflict.existing.nil?

  explained = Gem::Resolver::Conflict.new(conflict.requirement_trees.first.first, conflict.existing, conflict.requirement)
  failure('conflict', explained.explanation, 'gem' => conflict.requirement.name)
end

def resolve_once(set, deps, prefer)
  resolver = Gem::Resolver.new(deps, set)
  resolver.development = false
  resolver.ignore_dependencies = false
  # Keep versions the cache already holds where they still fit (like gem install --conservative).
  resolver.skip_gems = prefer.to_h { |name, v| [name, [Gem::NameTuple.new(name, Gem::Version.new(v), 'ruby')]] }
  requests = run_resolution(resolver, deps)
  unreachable(set) || { 'ok' => true, 'gems' => requests.map { |r| resolved_gem(r) } }
rescue Gem::UnsatisfiableDependencyError => e
  unreachable(set) || unsatisfiable(set, e.message, e.dependency)
rescue MOLINILLO::VersionConflict => e
  unreachable(set) || conflict_failure(set, e)
end

def resolve_target(set, target)
  target!(target)
  deps = target['requests'].map { |r| Gem::Dependency.new(r['name'], *r['requirements']) }
  set.prerelease = deps.any?(&:prerelease?)
  attempts = target['prefer'].empty? ? [{}] : [target['prefer'], {}]
  last = nil
  attempts.each do |prefer|
    last = resolve_once(set, deps, prefer)
    return last if last['ok'] || last['error']['kind'] == 'unreachable'
  end
  last
end

def resolve(input)
  guard_resolution!
  Gem.sources = Gem::SourceList.from(input['sources'])
  set = Gem::Resolver::BestSet.new(Gem.sources)
  set.remote = true
  { 'ok' => true, 'targets' => input['targets'].to_h { |t| [t['key'], resolve_target(set, t)] } }
end

# --- fetching ---------------------------------------------------------------------------------------

def fetched_gem(path, item, base)
  pkg = Gem::Package.new(path)
  pkg.verify
  spec = pkg.spec
  { 'ok' => true, 'filename' => item['filename'], 'source' => base, 'name' => spec.name,
    'version' => spec.version.to_s, 'platform' => spec.platform.to_s, 'spec_filename' => spec.file_name,
    'requires' => spec.runtime_dependencies.map { |d| "#{d.name} (#{d.requirement})" }.sort,
    'native' => !spec.extensions.empty? }
rescue StandardError => e
  failure('corrupt', "#{e.class}: #{e.message}", 'source' => base, 'file' => item['filename'])
end

def fetch_one(fetcher, dir, item)
  tried = []
  item['urls'].each do |base|
    uri = URI.parse(base) + "gems/#{item['filename']}"
    begin
      data = fetcher.fetch_path(uri)
    rescue Gem::RemoteFetcher::FetchError => e
      if e.message =~ /\b(404|410)\b/ || (uri.scheme == 'file' && e.message =~ /No such file/i)
        tried << base
        next
      end
      return failure('unreachable', e.message, 'source' => base, 'file' => item['filename'])
    end
    path = File.join(dir, item['filename'])
    File.binwrite("#{path}.part", data)
    File.rename("#{path}.part", path)
    return fetched_gem(path, item, base)
  end
  failure('missing', "#{item['filename']} is on none of the sources", 'file' => item['filename'], 'tried' => tried)
end

def fetch(input)
  fetcher = Gem::RemoteFetcher.fetcher
  { 'ok' => true, 'files' => input['items'].map { |item| fetch_one(fetcher, input['dir'], item) } }
end

# --- main -------------------------------------------------------------------------------------------

def gemrc_sources
  # This machine's own configuration: `gem sources --add` writes :sources:, hand-written files often sources:.
  config = Gem.configuration
  { 'ok' => true, 'sources' => Array(config.sources || config['sources']).map(&:to_s) }
end

def network_error?(error)
  # Classified by name: OpenSSL is only loaded once an https source was contacted.
  [Gem::RemoteFetcher::FetchError, SocketError, SystemCallError, Timeout::Error].any? { |c| error.is_a?(c) } ||
    error.class.name.to_s.include?('SSL')
end

def main
  input = JSON.parse(STDIN.binmode.read.force_encoding(Encoding::UTF_8))
  command = input['command']
  # No gem configuration of this machine counts (/etc/gemrc, ~/.gemrc, GEMRC), except when it is what is asked.
  Gem.configuration = Gem::ConfigFile.new(['--norc']) unless command == 'gemrc_sources'
  begin
    case command
    when 'resolve' then answer(resolve(input))
    when 'fetch' then answer(fetch(input))
    when 'gemrc_sources' then answer(gemrc_sources)
    when 'self_check' then answer(self_check(input))
    else answer(failure('internal', "unknown command #{command}"))
    end
  rescue PatchError => e
    answer(failure('rubygems_changed', e.message, 'rubygems_version' => Gem::VERSION))
  rescue StandardError => e
    if network_error?(e)
      source = (input['sources'] || []).find { |s| e.message.include?(URI.parse(s).host.to_s) }
      answer(failure('unreachable', "#{e.class}: #{e.message}", 'source' => source))
    end
    answer(failure('internal', "#{e.class}: #{e.message}"))
  end
end

main
