# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge to RubyGems and Bundler on the controller: resolve a closure for a foreign platform,
fetch gems, read a Gemfile.lock and decide which of its variants installs on a platform.

Controller only. Ruby answers the Ruby questions: the helper resolver_helper.rb (beside this file)
runs RubyGems' own resolver (Gem::Resolver with the sources' index), Bundler's own
Bundler::LockfileParser and RubyGems' own Gem::Platform rules, in one short `ruby -e` process per
step. Nothing is installed or compiled: the Ruby process gets a private empty GEM_HOME, HOME and
gem configuration, so the controller's ~/.gemrc, /etc/gemrc and GEM_*/BUNDLE_* variables play no
part. Requests and answers are JSON on stdin/stdout, so source credentials never appear on a
command line.
"""

import json
import os
import re
import shutil
import tempfile
from collections import namedtuple
from urllib.parse import urlsplit

from . import ruby_programs
from .gem_spec import GemRequest, LockedGem, Lockfile, PlatformFit, check_lockfile, parse_requirement, parse_version
from ..._common import process
from ..._common.credentials import Redactor, url_label
from ..._common.errors import ResolutionError
from ..._common.scripts import packaged_text
from ..._target.ruby.gem_plan import check_gem_name

DEFAULT_SOURCE = 'https://rubygems.org/'
HELPER = 'resolver_helper.rb'
NEEDS_RUBY = 'gem_cache needs Ruby with RubyGems (and Bundler, for a gemfile_lock) on the controller'

ResolvedGem = namedtuple('ResolvedGem', ['name', 'version', 'platform', 'filename', 'source', 'requires'])
"""A gem the resolver picked: source is the (credential-bearing) source URL; requires is a list of 'name (req)'."""

FetchedGem = namedtuple('FetchedGem', ['filename', 'source', 'name', 'version', 'platform', 'requires', 'native'])
"""A gem downloaded and checked by RubyGems (Gem::Package#verify): metadata read from the file itself."""


def ruby_program(name):
    """The text of one of the Ruby programs beside this file (see _common/scripts.packaged_text)."""
    return packaged_text(ruby_programs, name)


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
    """Runs the Ruby helper in a private, empty RubyGems environment; one process per call.

    runner is process.run or a stand-in with its signature: (argv, env, data=None, cwd=None) -> (rc, out, err).
    """

    def __init__(self, ruby, sources, workdir=None, runner=None):
        self.ruby = ruby
        self.sources = list(sources)
        self.redact = Redactor(self.sources)
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix='airgap-gem-')
        self._runner = runner or process.run

    def close(self):
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def environment(self):
        """Private HOME, GEM_HOME, spec cache and an empty gemrc: nothing of this machine's RubyGems or Bundler setup."""
        home = os.path.join(self.workdir, 'home')
        gem_home = os.path.join(self.workdir, 'gem_home')
        for path in (home, gem_home):
            if not os.path.isdir(path):
                os.makedirs(path)
        gemrc = os.path.join(self.workdir, 'gemrc')
        if not os.path.exists(gemrc):
            with open(gemrc, 'w') as handle:
                handle.write('--- {}\n')
        env = process.clean_environment(process.RUBY_TOOL_VARIABLES, HOME=home, GEMRC=gemrc, GEM_HOME=gem_home, GEM_PATH=gem_home,
                                        GEM_SPEC_CACHE=os.path.join(self.workdir, 'specs'))
        env.setdefault('LANG', 'C.UTF-8')
        return env

    def call(self, payload, what, env=None):
        """The helper's answer to one request; ResolutionError when Ruby cannot run or the helper reports a failure."""
        argv = [self.ruby, '-e', ruby_program(HELPER)]
        rc, out, err = self._runner(argv, self.environment() if env is None else env, json.dumps(payload))
        try:
            answer = json.loads(out)
        except ValueError:
            if rc == 127 and not out:
                raise ResolutionError('cannot run %s while trying to %s (%s): %s' % (self.ruby, what, err.strip(), NEEDS_RUBY))
            raise ResolutionError('RubyGems failed while trying to %s (exit %s): %s. %s'
                                  % (what, rc, self.redact(err.strip()[-2000:] or 'no output'), NEEDS_RUBY))
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
        if kind == 'malformed':
            details.update(line=error.get('line'), why=message)
            return ResolutionError('malformed at line %s while trying to %s: %s' % (error.get('line'), what, message), **details)
        if kind == 'rubygems_changed':
            details['rubygems_version'] = error.get('rubygems_version')
            return ResolutionError('RubyGems on the controller has changed what gem_cache adjusts to resolve for a target (%s) '
                                   'while trying to %s%s. %s: use a RubyGems 3.x release this collection was tested with (3.3), '
                                   'or report this with the RubyGems version.' % (message, what, where, NEEDS_RUBY), **details)
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
        # Read with the machine's own configuration: run without the private environment.
        env = dict(os.environ if environ is None else environ)
        answer = self.call({'command': 'gemrc_sources'}, "read the gem sources of this machine's gem configuration", env=env)
        return [str(s) for s in answer['sources']]

    def read_gemfile_lock(self, text, origin, platforms):
        """The Lockfile Bundler reads in text (the content of origin), with its fit for each of platforms."""
        payload = {'command': 'gemfile_lock', 'text': text, 'platforms': sorted(set(platforms))}
        try:
            answer = self.call(payload, 'read %s' % origin)
        except ResolutionError as exc:
            if exc.details.get('kind') != 'malformed':
                raise
            line = exc.details['line']
            raise ResolutionError('%s is malformed at line %d: %s. Regenerate it with `bundle lock`.'
                                  % (origin, line, ' '.join(exc.details['why'].split())), gemfile_lock=origin, line=line)
        return lockfile_from_answer(answer, origin)

    def platforms(self, split=(), match=()):
        """RubyGems' own answers on platforms: {text: (cpu, os, version)} as Gem::Platform.new splits each of split, and
        for each (target, gem platform) of match whether such a gem installs on the target (Gem::Platform.match_gem?)."""
        answer = self.call({'command': 'platforms', 'split': list(split), 'match': [list(m) for m in match]}, 'compare platforms')
        return dict((text, tuple(parts)) for text, parts in answer['split'].items()), list(answer['match'])

    def self_check(self, target):
        """What RubyGems answers once the helper made it answer for target: its patches, checked and applied."""
        wanted = {'platform': target.platform, 'ruby_version': target.ruby_version, 'rubygems_version': target.rubygems_version}
        return self.call({'command': 'self_check', 'target': wanted}, 'check the RubyGems patches')


def lockfile_from_answer(answer, origin):
    """A checked Lockfile from the helper's answer to gemfile_lock (names, versions and requirements validated)."""
    def request(item):
        return GemRequest(check_gem_name(item['name'], origin), parse_requirement(item['requirements'], '%s: %s' % (origin, item['name'])))

    specs = [LockedGem(check_gem_name(s['name'], origin), parse_version(s['version'], '%s: %s' % (origin, s['name'])), s['platform'],
                       tuple(request(r) for r in s['requires']))
             for s in answer['specs']]
    kinds = [s['source'] for s in answer['specs']]
    gem_specs = [spec for spec, kind in zip(specs, kinds) if kind == 'gem']
    foreign = [spec for spec, kind in zip(specs, kinds) if kind != 'gem']
    fits = dict((platform, PlatformFit(bool(fit['listed']), tuple(specs[i] for i in fit['chosen']),
                                       dict((name, list(p)) for name, p in fit['unfit'].items())))
                for platform, fit in answer['fits'].items())
    return check_lockfile(Lockfile(origin, gem_specs, list(answer['platforms']), [request(d) for d in answer['dependencies']],
                                   foreign, fits))


def _safe_filename(name):
    if not _SAFE_FILENAME.match(name or '') or '..' in name:
        raise ResolutionError('refusing the gem file name %r: not a plain file name' % (name,))
    return name
