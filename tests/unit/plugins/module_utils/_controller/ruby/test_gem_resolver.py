# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ruby bridge: what it sends, the environment Ruby runs in, how answers and crashes read, and the
guarded RubyGems patches of its Ruby helper (these run ruby). Resolving and fetching against a real gem
source: tests/integration/test_gem_resolver_against_a_source.py."""

import json
import os
import shutil
import socket

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common import process
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ResolutionError
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_resolver import (
    HELPER, RubyGems, normalize_source, ruby_program)
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_spec import GemRequest, parse_target

PRIVATE = 'https://ci:s3cr3t-token@gems.example.com/private/'
RUBY = shutil.which('ruby')


class Runner:
    """Answers every Ruby run with one canned JSON document and records what it was given (process.run's signature)."""

    def __init__(self, answer, rc=0, err=''):
        self.answer = answer
        self.rc = rc
        self.err = err
        self.calls = []

    def __call__(self, argv, env, data=None, cwd=None):
        self.calls.append((argv, json.loads(data) if data else None, env))
        out = self.answer if isinstance(self.answer, str) else json.dumps(self.answer)
        return self.rc, out, self.err


def rubygems(answer, sources=(PRIVATE,), tmp_path=None, **kwargs):
    runner = Runner(answer, **kwargs)
    return RubyGems('/usr/bin/ruby', list(sources), workdir=str(tmp_path) if tmp_path else None, runner=runner), runner


def test_sources_get_a_trailing_slash_and_must_be_http_https_or_file():
    assert normalize_source('http://127.0.0.1:8808') == 'http://127.0.0.1:8808/'
    assert normalize_source('file:///srv/gems') == 'file:///srv/gems/'
    with pytest.raises(ResolutionError, match='gems.example.com/x is not an http'):
        normalize_source('ftp://u:p@gems.example.com/x')


def test_ruby_runs_with_a_private_empty_rubygems_environment(tmp_path, monkeypatch):
    monkeypatch.setenv('GEM_HOME', '/var/lib/gems/3.1.0')
    monkeypatch.setenv('GEM_PATH', '/somewhere')
    monkeypatch.setenv('RUBYOPT', '-rbundler/setup')
    monkeypatch.setenv('BUNDLE_GEMFILE', '/app/Gemfile')
    monkeypatch.setenv('https_proxy', 'http://proxy:3128')
    gems, runner = rubygems({'ok': True, 'targets': {'ruby': {'ok': True, 'gems': []}}}, tmp_path=tmp_path)
    gems.resolve([(parse_target('ruby'), [GemRequest('rake', ())], {})])
    argv, payload, env = runner.calls[0]
    assert argv[:2] == ['/usr/bin/ruby', '-e']
    assert argv[2] == ruby_program(HELPER)  # the helper's .rb file, as it is
    assert PRIVATE not in ' '.join(argv)  # credentials travel on stdin only
    assert payload['sources'] == [PRIVATE]
    assert env['GEM_HOME'].startswith(str(tmp_path)) and env['GEM_PATH'] == env['GEM_HOME']
    assert env['HOME'].startswith(str(tmp_path)) and env['GEMRC'].startswith(str(tmp_path))
    assert 'RUBYOPT' not in env and 'BUNDLE_GEMFILE' not in env
    assert env['https_proxy'] == 'http://proxy:3128'


def test_resolution_sends_the_target_platform_ruby_and_preferred_versions(tmp_path):
    gems, runner = rubygems({'ok': True, 'targets': {'ruby-3.1.0-x86_64-linux': {'ok': True, 'gems': [
        {'name': 'rake', 'version': '13.0.6', 'platform': 'ruby', 'filename': 'rake-13.0.6.gem', 'source': PRIVATE,
         'requires': []}]}}}, tmp_path=tmp_path)
    target = parse_target({'platform': 'x86_64-linux', 'version': '3.1.2', 'rubygems_version': '3.3.15'})
    resolved = gems.resolve([(target, [GemRequest('rake', ('~> 13.0',))], {'rake': '13.0.6'})])
    sent = runner.calls[0][1]['targets'][0]
    assert sent == {'key': 'ruby-3.1.0-x86_64-linux', 'platform': 'x86_64-linux', 'ruby_version': '3.1.2',
                    'rubygems_version': '3.3.15', 'requests': [{'name': 'rake', 'requirements': ['~> 13.0']}],
                    'prefer': {'rake': '13.0.6'}}
    assert resolved['ruby-3.1.0-x86_64-linux'][0].filename == 'rake-13.0.6.gem'


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_an_unreachable_source_is_named_without_its_credentials():
    source = 'http://ci:s3cr3t-token@127.0.0.1:%d/private/' % _closed_port()
    with RubyGems(RUBY, [source]) as gems:
        with pytest.raises(ResolutionError) as info:
            gems.resolve([(parse_target('ruby'), [GemRequest('x', ())], {})])
    error = info.value
    assert error.msg.startswith('gem source 127.0.0.1:%s/private/ is unreachable while trying to resolve the gems for ruby'
                                % source.split(':')[3].split('/')[0])
    assert error.details['kind'] == 'unreachable'
    assert 's3cr3t' not in error.msg and 's3cr3t' not in json.dumps(error.details)


def test_a_crash_of_ruby_is_reported_with_its_redacted_stderr(tmp_path):
    gems, _runner = rubygems('', rc=1, err='oops at https://ci:s3cr3t-token@gems.example.com/', tmp_path=tmp_path)
    with pytest.raises(ResolutionError) as info:
        gems.resolve([(parse_target('ruby'), [GemRequest('x', ())], {})])
    assert 'exit 1' in info.value.msg and 's3cr3t' not in info.value.msg
    assert 'gem_cache needs Ruby with RubyGems' in info.value.msg


def test_a_ruby_that_cannot_run_is_named_with_the_remedy(tmp_path):
    with RubyGems(str(tmp_path / 'no-such-ruby'), [PRIVATE]) as gems:
        with pytest.raises(ResolutionError) as info:
            gems.resolve([(parse_target('ruby'), [GemRequest('x', ())], {})])
    assert info.value.msg.startswith('cannot run %s while trying to resolve the gems' % (tmp_path / 'no-such-ruby'))
    assert 'gem_cache needs Ruby with RubyGems' in info.value.msg


def test_a_file_name_with_a_path_is_refused(tmp_path):
    gems, _runner = rubygems({'ok': True, 'targets': {'ruby': {'ok': True, 'gems': [
        {'name': 'x', 'version': '1', 'platform': 'ruby', 'filename': '../../etc/x.gem', 'source': PRIVATE, 'requires': []}]}}},
        tmp_path=tmp_path)
    with pytest.raises(ResolutionError, match='not a plain file name'):
        gems.resolve([(parse_target('ruby'), [GemRequest('x', ())], {})])


def test_gems_resolved_from_a_compact_index_elsewhere_come_from_the_configured_source(tmp_path):
    sources = ['https://rubygems.org/', PRIVATE, 'https://gems.example.com/other/']
    gems, _runner = rubygems({'ok': True, 'targets': {'ruby': {'ok': True, 'gems': [
        {'name': 'rake', 'version': '13.0.6', 'platform': 'ruby', 'filename': 'rake-13.0.6.gem',
         'source': 'https://index.rubygems.org/', 'requires': []},
        {'name': 'tool', 'version': '1.0.0', 'platform': 'ruby', 'filename': 'tool-1.0.0.gem',
         'source': 'https://gems.example.com/private/', 'requires': []}]}}}, sources=sources, tmp_path=tmp_path)
    resolved = gems.resolve([(parse_target('ruby'), [GemRequest('rake', ()), GemRequest('tool', ())], {})])['ruby']
    assert [g.source for g in resolved] == ['https://rubygems.org/', PRIVATE]


def test_the_machine_gem_configuration_is_read_only_when_asked_for(tmp_path):
    gemrc = tmp_path / 'machine-gemrc'
    gemrc.write_text('---\n:sources:\n- http://gems.example.com/machine/\n')
    with RubyGems(RUBY, []) as gems:
        assert gems.gemrc_sources(dict(os.environ, GEMRC=str(gemrc), HOME=str(tmp_path))) == ['http://gems.example.com/machine/']


# --- the guarded patches of RubyGems internals ----------------------------------------------------

def _ruby_answer(expression):
    rc, out, err = process.run([RUBY, '-e', 'print(%s)' % expression], process.clean_environment(process.RUBY_TOOL_VARIABLES))
    assert rc == 0, err
    return out


def test_every_patch_guard_passes_here_and_rubygems_then_answers_for_the_target(tmp_path):
    with RubyGems(RUBY, [], workdir=str(tmp_path)) as gems:
        # A gemrc where the helper's private one is: the helper reads no gemrc at all (Gem::ConfigFile --norc).
        with open(gems.environment()['GEMRC'], 'w') as handle:
            handle.write('---\n:sources:\n- http://gems.example.com/ambient/\n')
        foreign = gems.self_check(parse_target({'platform': 'aarch64-linux', 'version': '2.7.4', 'rubygems_version': '3.2.5'}))
        plain = gems.self_check(parse_target('ruby'))
    assert foreign['rubygems_version'] == _ruby_answer('Gem::VERSION')
    # Patch 1, Gem::Platform.local: the target's platform is the one the resolver prefers.
    assert foreign['local'] == 'aarch64-linux'
    # Patches 2 and 3, Gem.ruby_version and Gem.rubygems_version: the target's.
    assert (foreign['ruby_version'], foreign['target_rubygems_version']) == ('2.7.4', '3.2.5')
    assert foreign['platforms'] == ['ruby', 'aarch64-linux']
    assert foreign['sources'] == []
    # A ruby target without versions: source gems only, this controller's Ruby and RubyGems.
    assert plain['platforms'] == ['ruby']
    assert plain['local'] == _ruby_answer('Gem::Platform.local')
    assert (plain['ruby_version'], plain['target_rubygems_version']) == (_ruby_answer('Gem.ruby_version'), _ruby_answer('Gem::VERSION'))


# Ruby code run before the helper, each changing one thing a patch or the copied resolve relies on.
CHANGED_RUBYGEMS = [
    ('def Gem.ruby_version(target = nil); Gem::Version.new(RUBY_VERSION); end', 'Gem.ruby_version takes [[:opt, :target]]'),
    ('def Gem.rubygems_version(*); Gem::Version.new(Gem::VERSION); end', 'Gem.rubygems_version takes [[:rest]]'),
    ('class Gem::Platform; def self.local(arch = nil); @local ||= new(arch || RbConfig::CONFIG["arch"]); end; end',
     'Gem::Platform.local takes [[:opt, :arch]]'),
    # Memoised elsewhere: the patch cannot take effect, and the helper says so.
    ('class Gem::Platform; def self.local; new(RbConfig::CONFIG["arch"]); end; end', 'Gem::Platform.local answers'),
    ('module Elsewhere; def local; super; end; end; Gem::Platform.singleton_class.prepend(Elsewhere)',
     'Gem::Platform.local is now defined by Elsewhere'),
    ('require "rubygems/resolver"; Gem::Resolver::Molinillo::Resolver.class_eval { def resolve(requested); end }',
     'Gem::Resolver::Molinillo::Resolver#resolve takes [[:req, :requested]]'),
]


@pytest.mark.parametrize('prelude, culprit', CHANGED_RUBYGEMS)
def test_a_changed_rubygems_method_stops_the_helper_naming_the_method_and_the_version(prelude, culprit):
    def changed_rubygems(argv, env, data=None, cwd=None):
        return process.run(argv[:2] + [prelude, '-e'] + argv[2:], env, data, cwd)

    with RubyGems(RUBY, [PRIVATE], runner=changed_rubygems) as gems:
        with pytest.raises(ResolutionError) as info:
            gems.resolve([(parse_target({'platform': 'aarch64-linux', 'version': '2.7.4'}), [GemRequest('x', ())], {})])
    error = info.value
    assert error.details['kind'] == 'rubygems_changed'
    assert culprit in error.msg
    assert 'RubyGems %s' % _ruby_answer('Gem::VERSION') in error.msg
    assert 'gem_cache needs Ruby with RubyGems' in error.msg
