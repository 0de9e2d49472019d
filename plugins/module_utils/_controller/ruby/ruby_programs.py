# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A copy of the Ruby programs beside this file (the .rb files), for module runs only.

Ansible runs a module from a payload that carries the .py files it imports and nothing else; there
_common/scripts.packaged_text reads the programs from here, everywhere else from the .rb files
themselves. Do not edit: edit the .rb file, then run `.venv/bin/python hacking/ruby_programs.py`;
a unit test fails while this file differs.
"""

PROGRAMS = {
    'resolver_helper.rb': r'''# frozen_string_literal: true

# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# RubyGems and Bundler answer gem_cache's Ruby questions on the controller: which gems a request
# resolves to for a target, which variant of a locked gem installs on a platform, what a
# Gemfile.lock locks. gem_resolver.py runs this file with `ruby -e` in a private, empty RubyGems
# environment (its own GEM_HOME, HOME and gemrc) and writes one JSON request to stdin:
#
#   {"command": "resolve", "sources": [url], "targets": [{"key", "platform", "ruby_version",
#       "rubygems_version", "requests": [{"name", "requirements": [text]}], "prefer": {name: version}}]}
#   {"command": "fetch", "dir": path, "items": [{"filename", "urls": [url]}]}
#   {"command": "gemfile_lock", "text": lockfile text, "platforms": [platform]}
#   {"command": "platforms", "split": [platform], "match": [[target platform, gem platform]]}
#   {"command": "gemrc_sources"}      (run with this machine's own environment, not the private one)
#   {"command": "self_check", "target": {"platform", "ruby_version", "rubygems_version"}}
#
# It answers one JSON document on stdout: {"ok": true, ...} or {"ok": false, "error": {"kind",
# "message", ...}}. Source URLs, which may carry credentials, travel on stdin only. Nothing is
# installed or compiled. Standard library, RubyGems 3.x and (for gemfile_lock) Bundler only.

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

# --- platforms --------------------------------------------------------------------------------------

def platform_of(text)
  # Gem::Platform.new answers the string 'ruby' for ruby, a Gem::Platform for anything else.
  Gem::Platform.new(text)
end

# Whether a gem built for gem_platform installs where Gem.platforms are the target's: RubyGems' own rule.
def installs?(gem_platform, gem_name)
  if Gem::Platform.respond_to?(:match_gem?)
    Gem::Platform.match_gem?(gem_platform, gem_name)
  else
    Gem::Platform.match(gem_platform) # RubyGems before 3.3
  end
end

def with_target_platform(text)
  Gem.platforms = text == 'ruby' ? [Gem::Platform::RUBY] : [Gem::Platform::RUBY, platform_of(text)]
  yield
end

def platforms(input)
  split = input.fetch('split', []).to_h do |text|
    platform = platform_of(text)
    [text, platform.is_a?(Gem::Platform) ? [platform.cpu, platform.os, platform.version] : [nil, platform.to_s, nil]]
  end
  match = input.fetch('match', []).map do |target, gem_platform|
    with_target_platform(target) { installs?(platform_of(gem_platform), nil) ? true : false }
  end
  { 'ok' => true, 'split' => split, 'match' => match }
end

# --- Gemfile.lock -----------------------------------------------------------------------------------

MERGE_CONFLICT = /<<<<<<<|=======|>>>>>>>|\|\|\|\|\|\|\|/.freeze

def lockfile_parser
  Bundler::LockfileParser
end

# Bundler's parser skips every line it does not understand: a section it does not know, a tab-indented
# spec, an option without its colon. A gem on such a line would be missing from the cache without a
# word, so each line must be one that Bundler reads in the section it is in (by Bundler's own patterns).
def unread_line(lines)
  parser = lockfile_parser
  known = parser::KNOWN_SECTIONS + ['CHECKSUMS'] # CHECKSUMS (Bundler 2.5+) holds nothing gem_cache needs.
  section = nil
  in_specs = false
  spec_seen = false
  lines.each_with_index do |line, index|
    number = index + 1
    return [number, 'it contains a merge conflict marker'] if line.match?(MERGE_CONFLICT)
    next if line.strip.empty?
    return [number, 'tab character (Gemfile.lock indents with spaces)'] if line.include?("\t")

    unless line.start_with?(' ')
      return [number, "unknown section '#{line}'"] unless known.include?(line)

      section = line
      in_specs = false
      spec_seen = false
      next
    end
    return [number, 'indented line outside any section'] if section.nil?

    why = if parser::SOURCE.include?(section)
            if line == parser::SPECS
              in_specs = true
              nil
            elsif !in_specs
              "expected \"  key: value\" or \"  specs:\" in the #{section} section" unless line.match?(parser::OPTIONS)
            elsif !line.match?(parser::NAME_VERSION) || ![4, 6].include?(line[/\A */].size)
              'expected a spec ("    name (version)") or one of its dependencies ("      name (requirement)")'
            elsif line[/\A */].size == 6 && !spec_seen
              'a dependency line before any spec'
            elsif line[/\A */].size == 4 && line.match(parser::NAME_VERSION)[3].nil?
              "spec '#{line.strip}' has no version (expected \"    name (version)\")"
            else
              spec_seen = true
              nil
            end
          elsif section == parser::DEPENDENCIES
            'expected "  name" or "  name (requirement)"' unless line.match?(parser::NAME_VERSION) && line[/\A */].size == 2
          elsif section == parser::PLATFORMS
            'expected one platform per line' unless line.match?(/\A  \S+\z/)
          end
    return [number, why] if why
  end
  nil
end

# The specs of PLUGIN SOURCE sections, which Bundler can only parse with the plugin installed: they
# are reported as gems no gem source serves, and blanked out of the text Bundler reads.
def plugin_specs(lines)
  section = nil
  specs = []
  blanked = lines.map do |line|
    section = line unless line.start_with?(' ') || line.strip.empty?
    next line unless section == lockfile_parser::PLUGIN

    spec = line.match(lockfile_parser::NAME_VERSION)
    if spec && spec[1].size == 4
      specs << { 'name' => spec[2], 'version' => spec[3].to_s, 'platform' => 'ruby', 'source' => 'plugin', 'requires' => [] }
    end
    ''
  end
  [specs, blanked]
end

def parse_lock(lines)
  lockfile_parser.new(lines.join("\n"))
end

# The first line Bundler's parser fails on: the shortest failing prefix (parsing is line by line).
def failing_line(lines)
  low = 0
  high = lines.size
  while high - low > 1
    middle = (low + high) / 2
    begin
      parse_lock(lines[0, middle])
      low = middle
    rescue StandardError
      high = middle
    end
  end
  high
end

# Bundler keeps a spec's platform as a Gem::Platform, whose name can differ from the one the lock
# writes (RubyGems 3.3 reads x86_64-linux-gnu as x86_64-linux); the gem file is named as the lock says.
def written_platforms(lines)
  lines.each_with_object({}) do |line, written|
    spec = line.match(lockfile_parser::NAME_VERSION)
    next unless spec && spec[1].size == 4 && spec[4]

    written[[spec[2], spec[3], Gem::Platform.new(spec[4]).to_s]] = spec[4]
  end
end

def source_kind(source)
  return 'gem' if source.is_a?(Bundler::Source::Rubygems)
  return 'git' if source.is_a?(Bundler::Source::Git)
  return 'path' if source.is_a?(Bundler::Source::Path)

  'plugin'
end

def requirement_list(dependency)
  { 'name' => dependency.name, 'requirements' => dependency.requirement.as_list }
end

# For one target platform: the variant of each locked gem that installs there, the precompiled one
# (the exact platform first) over the ruby one, and the gems no variant of which installs there.
def platform_fit(text, specs, lock_platforms)
  with_target_platform(text) do
    chosen = []
    unfit = {}
    specs.each_index.select { |i| specs[i][:kind] == 'gem' }.group_by { |i| specs[i][:spec].name }.sort.each do |name, indexes|
      native = indexes.reject { |i| specs[i][:platform] == 'ruby' }.select { |i| installs?(specs[i][:spec].platform, name) }
      generic = indexes.select { |i| specs[i][:platform] == 'ruby' }
      best = native.min_by { |i| [specs[i][:platform] == text ? 0 : 1, specs[i][:platform]] } || generic.first
      if best
        chosen << best
      else
        unfit[name] = indexes.map { |i| specs[i][:platform] }.sort
      end
    end
    { 'listed' => lock_platforms.any? { |p| installs?(p, nil) }, 'chosen' => chosen, 'unfit' => unfit }
  end
end

def gemfile_lock(input)
  # Bundler looks for a Gemfile and its settings from here: the private HOME, not this machine's.
  ENV['BUNDLE_GEMFILE'] = File.join(ENV.fetch('HOME'), 'Gemfile')
  ENV['BUNDLE_APP_CONFIG'] = File.join(ENV.fetch('HOME'), '.bundle')
  require 'bundler'
  lines = input['text'].gsub("\r\n", "\n").split("\n")
  line, why = unread_line(lines)
  return failure('malformed', why, 'line' => line) if line

  foreign, lines = plugin_specs(lines)
  begin
    parser = parse_lock(lines)
  rescue Bundler::BundlerError, ArgumentError => e
    return failure('malformed', (e.cause || e).message, 'line' => failing_line(lines))
  end
  written = written_platforms(lines)
  specs = parser.specs.map do |s|
    platform = written.fetch([s.name, s.version.to_s, s.platform.to_s], s.platform.to_s)
    { spec: s, kind: source_kind(s.source), platform: platform }
  end
  answers = specs.map do |s|
    { 'name' => s[:spec].name, 'version' => s[:spec].version.to_s, 'platform' => s[:platform], 'source' => s[:kind],
      'requires' => s[:spec].dependencies.map { |d| requirement_list(d) } }
  end
  { 'ok' => true, 'specs' => answers + foreign, 'platforms' => parser.platforms.map(&:to_s),
    'dependencies' => parser.dependencies.values.map { |d| requirement_list(d) },
    'fits' => input['platforms'].to_h { |p| [p, platform_fit(p, specs, parser.platforms)] } }
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
    when 'gemfile_lock' then answer(gemfile_lock(input))
    when 'platforms' then answer(platforms(input))
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
''',
}
