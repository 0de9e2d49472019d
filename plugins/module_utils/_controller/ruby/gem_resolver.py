# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge to RubyGems on the controller: resolve a closure for a foreign platform, fetch gems.

Controller only. RubyGems' own resolver (Gem::Resolver with the sources' index) does the
work in one short `ruby -e` process per step; nothing is installed or compiled: the Ruby
process gets a private empty GEM_HOME, HOME and gem configuration, so the controller's
~/.gemrc, /etc/gemrc and GEM_* variables play no part. Requests and answers are JSON on
stdin/stdout, so source credentials never appear on a command line.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import namedtuple

from ..._common.errors import ResolutionError
from ..._common.credentials import Redactor, url_label

from urllib.parse import urlsplit

DEFAULT_SOURCE = 'https://rubygems.org/'

ResolvedGem = namedtuple('ResolvedGem', ['name', 'version', 'platform', 'filename', 'source', 'requires'])
"""A gem the resolver picked: source is the (credential-bearing) source URL; requires is a list of 'name (req)'."""

FetchedGem = namedtuple('FetchedGem', ['filename', 'source', 'name', 'version', 'platform', 'requires', 'native'])
"""A gem downloaded and checked by RubyGems (Gem::Package#verify): metadata read from the file itself."""

# Environment variables the Ruby process keeps: locale, proxies and TLS trust, nothing of RubyGems.
_PASS_ENV = ('PATH', 'LANG', 'LC_ALL', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY',
             'SSL_CERT_FILE', 'SSL_CERT_DIR', 'TZ')

RUBY_HELPER = r'''
require 'json'
require 'rubygems'
require 'rubygems/remote_fetcher'
require 'rubygems/package'
require 'rubygems/resolver'

# No gem configuration of this machine counts: /etc/gemrc is replaced by an empty file too.
empty = ENV.fetch('AIRGAP_EMPTY_GEMRC')
Gem::ConfigFile.send(:remove_const, :SYSTEM_WIDE_CONFIG_FILE)
Gem::ConfigFile.const_set(:SYSTEM_WIDE_CONFIG_FILE, empty)
Gem.configuration = Gem::ConfigFile.new([])

LOCAL = Gem::Platform.local
RUBY_VERSION_HERE = Gem.ruby_version
RUBYGEMS_VERSION_HERE = Gem.rubygems_version

def answer(obj)
  STDOUT.write(JSON.generate(obj))
  STDOUT.flush
  exit! 0
end

def failure(kind, message, extra = {})
  { 'ok' => false, 'error' => { 'kind' => kind, 'message' => message.to_s }.merge(extra) }
end

# Make RubyGems answer for the target instead of this machine: platform, Ruby, RubyGems.
def target!(t)
  if t['platform'] == 'ruby'
    Gem.platforms = [Gem::Platform::RUBY]
    Gem::Platform.instance_variable_set(:@local, LOCAL)
  else
    plat = Gem::Platform.new(t['platform'])
    Gem.platforms = [Gem::Platform::RUBY, plat]
    Gem::Platform.instance_variable_set(:@local, plat)
  end
  rv = t['ruby_version'] ? Gem::Version.new(t['ruby_version']) : RUBY_VERSION_HERE
  gv = t['rubygems_version'] ? Gem::Version.new(t['rubygems_version']) : RUBYGEMS_VERSION_HERE
  Gem.singleton_class.send(:define_method, :ruby_version) { rv }
  Gem.singleton_class.send(:define_method, :rubygems_version) { gv }
end

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

MOLINILLO = defined?(Gem::Resolver::Molinillo) ? Gem::Resolver::Molinillo : Gem::Molinillo

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

def resolve_target(set, t)
  target!(t)
  deps = t['requests'].map { |r| Gem::Dependency.new(r['name'], *r['requirements']) }
  set.prerelease = deps.any?(&:prerelease?)
  attempts = t['prefer'].empty? ? [{}] : [t['prefer'], {}]
  last = nil
  attempts.each do |prefer|
    resolver = Gem::Resolver.new(deps, set)
    resolver.development = false
    resolver.ignore_dependencies = false
    # Keep versions the cache already holds where they still fit (like gem install --conservative).
    resolver.skip_gems = prefer.map { |name, v| [name, [Gem::NameTuple.new(name, Gem::Version.new(v), 'ruby')]] }.to_h
    begin
      requests = run_resolution(resolver, deps)
      problems = source_problems(set)
      return failure('unreachable', problems.first['message'], 'source' => problems.first['source']) unless problems.empty?
      gems = requests.map do |r|
        spec = r.spec.spec
        {
          'name' => spec.name, 'version' => spec.version.to_s, 'platform' => spec.platform.to_s,
          'filename' => spec.file_name, 'source' => r.spec.source.uri.to_s,
          'requires' => spec.runtime_dependencies.map { |d| "#{d.name} (#{d.requirement})" }.sort,
        }
      end
      return { 'ok' => true, 'gems' => gems }
    rescue Gem::UnsatisfiableDependencyError => e
      problems = source_problems(set)
      return failure('unreachable', problems.first['message'], 'source' => problems.first['source']) unless problems.empty?
      last = unsatisfiable(set, e.message, e.dependency)
    rescue MOLINILLO::VersionConflict => e
      problems = source_problems(set)
      return failure('unreachable', problems.first['message'], 'source' => problems.first['source']) unless problems.empty?
      conflict = e.conflicts.values.first
      if conflict.existing.nil?
        # Nothing was activated: every candidate failed the target's Ruby or RubyGems version.
        last = unsatisfiable(set, e.message, conflict.requirement)
      else
        explained = Gem::Resolver::Conflict.new(conflict.requirement_trees.first.first, conflict.existing, conflict.requirement)
        last = failure('conflict', explained.explanation, 'gem' => conflict.requirement.name)
      end
    end
  end
  last
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
    File.binwrite(path + '.part', data)
    File.rename(path + '.part', path)
    begin
      pkg = Gem::Package.new(path)
      pkg.verify
      spec = pkg.spec
    rescue StandardError => e
      return failure('corrupt', "#{e.class}: #{e.message}", 'source' => base, 'file' => item['filename'])
    end
    return { 'ok' => true, 'filename' => item['filename'], 'source' => base, 'name' => spec.name,
             'version' => spec.version.to_s, 'platform' => spec.platform.to_s, 'spec_filename' => spec.file_name,
             'requires' => spec.runtime_dependencies.map { |d| "#{d.name} (#{d.requirement})" }.sort,
             'native' => !spec.extensions.empty? }
  end
  failure('missing', "#{item['filename']} is on none of the sources", 'file' => item['filename'], 'tried' => tried)
end

input = JSON.parse(STDIN.read)
begin
  case input['command']
  when 'resolve'
    Gem.sources = Gem::SourceList.from(input['sources'])
    set = Gem::Resolver::BestSet.new(Gem.sources)
    set.remote = true
    answer('ok' => true, 'targets' => input['targets'].map { |t| [t['key'], resolve_target(set, t)] }.to_h)
  when 'fetch'
    fetcher = Gem::RemoteFetcher.fetcher
    answer('ok' => true, 'files' => input['items'].map { |item| fetch_one(fetcher, input['dir'], item) })
  when 'gemrc_sources'
    answer('ok' => true, 'sources' => Array(Gem.configuration[:sources]))
  else
    answer(failure('internal', "unknown command #{input['command']}"))
  end
rescue StandardError => e
  # Classified by name: OpenSSL is only loaded once an https source was contacted.
  network = [Gem::RemoteFetcher::FetchError, SocketError, SystemCallError, Timeout::Error].any? { |c| e.is_a?(c) } ||
            e.class.name.to_s.include?('SSL')
  if network
    source = (input['sources'] || []).find { |s| e.message.include?(URI.parse(s).host.to_s) }
    answer(failure('unreachable', "#{e.class}: #{e.message}", 'source' => source))
  end
  answer(failure('internal', "#{e.class}: #{e.message}"))
end
'''

_SAFE_FILENAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*\.gem$')


def normalize_source(url):
    """A gem source URL with a trailing slash; only http, https and file sources are accepted."""
    url = str(url).strip()
    parts = urlsplit(url)
    if parts.scheme not in ('http', 'https', 'file') or (parts.scheme != 'file' and not parts.hostname):
        raise ResolutionError('sources: %s is not an http(s):// or file:// gem source URL' % url_label(url))
    if not url.endswith('/'):
        url += '/'
    return url


class RubyGems:
    """Runs the Ruby helper in a private, empty RubyGems environment; one process per call."""

    def __init__(self, ruby, sources, workdir=None, runner=None):
        self.ruby = ruby
        self.sources = list(sources)
        self.redact = Redactor(self.sources)
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix='airgap-gem-')
        self._runner = runner or _run_subprocess

    def close(self):
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def environment(self):
        """Private HOME, GEM_HOME, spec cache and an empty gemrc: nothing of this machine's RubyGems setup."""
        home = os.path.join(self.workdir, 'home')
        gem_home = os.path.join(self.workdir, 'gem_home')
        for path in (home, gem_home):
            if not os.path.isdir(path):
                os.makedirs(path)
        gemrc = os.path.join(self.workdir, 'gemrc')
        if not os.path.exists(gemrc):
            with open(gemrc, 'w') as handle:
                handle.write('--- {}\n')
        env = dict((name, os.environ[name]) for name in _PASS_ENV if name in os.environ)
        env.update({
            'HOME': home, 'GEMRC': gemrc, 'AIRGAP_EMPTY_GEMRC': gemrc, 'GEM_HOME': gem_home, 'GEM_PATH': gem_home,
            'GEM_SPEC_CACHE': os.path.join(self.workdir, 'specs'), 'LANG': env.get('LANG', 'C.UTF-8'),
        })
        return env

    def call(self, payload, what):
        data = json.dumps(payload).encode('utf-8')
        rc, out, err = self._runner([self.ruby, '-e', RUBY_HELPER], data, self.environment())
        try:
            answer = json.loads(out.decode('utf-8'))
        except ValueError:
            raise ResolutionError('RubyGems failed while trying to %s (exit %s): %s'
                                  % (what, rc, self.redact(err.decode('utf-8', 'replace').strip()[-2000:] or 'no output')))
        if not answer.get('ok'):
            raise self.error(answer['error'], what)
        return answer

    def error(self, error, what, key=None):
        """A ResolutionError that names the culprit (gem, source, file) without credentials."""
        kind = error.get('kind')
        message = self.redact(error.get('message', ''))
        where = ' for %s' % key if key else ''
        details = {'kind': kind}
        if key:
            details['key'] = key
        if kind == 'unreachable':
            label = url_label(error['source']) if error.get('source') else ', '.join(url_label(s) for s in self.sources)
            details['source'] = label
            return ResolutionError('gem source %s is unreachable while trying to %s%s: %s. Check the URL, the network '
                                   'and credentials, or remove the source.' % (label, what, where, message), **details)
        if kind == 'unsatisfiable':
            return self._unsatisfiable(error, key, where, details)
        if kind == 'conflict':
            details['gem'] = error.get('gem')
            return ResolutionError('conflicting requirements on gem %s%s: %s'
                                   % (error.get('gem'), where, ' '.join(message.split())), **details)
        if kind == 'missing':
            details['file'] = error.get('file')
            return ResolutionError('%s%s is on none of the sources (%s): was it yanked, or is its platform missing there?'
                                   % (error.get('file'), where, ', '.join(url_label(s) for s in self.sources)), **details)
        if kind == 'corrupt':
            details.update(file=error.get('file'), source=url_label(error.get('source', '')))
            return ResolutionError('%s from %s is not a valid gem (%s): the source serves a broken file'
                                   % (error.get('file'), url_label(error.get('source', '')), message), **details)
        return ResolutionError('RubyGems failed while trying to %s%s: %s' % (what, where, message), **details)

    def _unsatisfiable(self, error, key, where, details):
        name, requirement = error.get('gem'), error.get('requirement') or '>= 0'
        available = error.get('available') or []
        required_by = error.get('required_by')
        asker = 'required by %s' % required_by if required_by else 'requested'
        details.update(gem=name, requirement=requirement, required_by=required_by)
        if not available:
            return ResolutionError('unknown gem %s%s (%s): no source has it (%s). Check the name and the sources.'
                                   % (name, where, asker, ', '.join(url_label(s) for s in self.sources)), **details)
        shown = ', '.join(v if p == 'ruby' else '%s-%s' % (v, p) for v, p in available[-12:])
        misfits = error.get('misfits') or []
        if misfits:
            shown += ' (%s)' % '; '.join(misfits)
            details['misfits'] = misfits
        return ResolutionError('no version of gem %s satisfies "%s" (%s) that fits %s; available: %s'
                               % (name, requirement, asker, key or 'the target', shown),
                               available=[list(a) for a in available], **details)

    def resolve(self, targets):
        """{key: [ResolvedGem]} for [(Target, [GemRequest], {name: preferred version})]."""
        payload = {'command': 'resolve', 'sources': self.sources, 'targets': [
            {'key': t.key, 'platform': t.platform, 'ruby_version': t.ruby_version, 'rubygems_version': t.rubygems_version,
             'requests': [{'name': r.name, 'requirements': list(r.requirements)} for r in requests],
             'prefer': dict(prefer or {})}
            for t, requests, prefer in targets]}
        answer = self.call(payload, 'resolve the gems')
        resolved = {}
        for target, _requests, _prefer in targets:
            result = answer['targets'][target.key]
            if not result.get('ok'):
                raise self.error(result['error'], 'resolve the gems', key=target.key)
            resolved[target.key] = [ResolvedGem(g['name'], g['version'], g['platform'], _safe_filename(g['filename']),
                                                self.configured_source(g['source']), list(g['requires']))
                                    for g in result['gems']]
        return resolved

    def configured_source(self, url):
        """The configured source (with its credentials) that RubyGems answered from.

        RubyGems reports the URL of the index it read: a compact index can live elsewhere
        (rubygems.org's is index.rubygems.org) or drop the credentials after a redirect. Gems
        are downloaded from, and recorded as coming from, the source the user configured.
        """
        def place(text):
            parts = urlsplit(text)
            host = parts.hostname or ''
            if host == 'index.rubygems.org':
                host = 'rubygems.org'
            return host, parts.port, (parts.path or '/').rstrip('/')

        host, port, path = place(url)
        same_host = [s for s in self.sources if place(s)[:2] == (host, port)]
        exact = [s for s in same_host if place(s)[2] == path]
        return (exact or same_host or [url])[0]

    def fetch(self, directory, items):
        """Download [(filename, [source urls to try in order])] into directory; [FetchedGem]."""
        payload = {'command': 'fetch', 'dir': directory,
                   'items': [{'filename': _safe_filename(f), 'urls': list(urls)} for f, urls in items]}
        answer = self.call(payload, 'fetch the gems')
        fetched = []
        for result in answer['files']:
            if not result.get('ok'):
                raise self.error(result['error'], 'fetch the gems')
            if result['spec_filename'] != result['filename']:
                raise ResolutionError('%s from %s holds the gem %s, not what its file name says; the source is inconsistent'
                                      % (result['filename'], url_label(result['source']), result['spec_filename']),
                                      file=result['filename'])
            fetched.append(FetchedGem(result['filename'], result['source'], result['name'], result['version'],
                                      result['platform'], list(result['requires']), bool(result['native'])))
        return fetched

    def gemrc_sources(self, environ=None):
        """The sources this machine's gem configuration names (~/.gemrc, GEMRC, /etc/gemrc)."""
        env = dict(os.environ if environ is None else environ)
        # Read with the machine's own configuration: run without the private environment.
        # `gem sources --add` writes :sources: (a symbol key), hand-written files often sources:.
        script = ("require 'json'; c = Gem.configuration; "
                  "STDOUT.write(JSON.generate(Array(c.sources || c['sources']).map(&:to_s)))")
        rc, out, err = self._runner([self.ruby, '-e', script], b'', env)
        try:
            sources = json.loads(out.decode('utf-8'))
        except ValueError:
            raise ResolutionError('cannot read the gem sources of this machine\'s gem configuration (exit %s): %s'
                                  % (rc, self.redact(err.decode('utf-8', 'replace').strip()[-500:])))
        return [str(s) for s in sources]


def _safe_filename(name):
    if not _SAFE_FILENAME.match(name or '') or '..' in name:
        raise ResolutionError('refusing the gem file name %r: not a plain file name' % (name,))
    return name


def _run_subprocess(argv, data, env):
    try:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except OSError as exc:
        raise ResolutionError('cannot run %s (%s): gem_cache needs Ruby with RubyGems on the controller' % (argv[0], exc))
    out, err = process.communicate(data)
    return process.returncode, out, err
