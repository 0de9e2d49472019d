# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ruby bridge without Ruby: what it sends, how it reads answers, how errors read."""

import json

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ResolutionError
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_resolver import (
    RubyGems, normalize_source)
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_spec import GemRequest, parse_target

PRIVATE = 'https://ci:s3cr3t-token@gems.example.com/private/'


class Runner:
    """Answers every Ruby run with one canned JSON document and records what it was given."""

    def __init__(self, answer, rc=0, err=b''):
        self.answer = answer
        self.rc = rc
        self.err = err
        self.calls = []

    def __call__(self, argv, data, env):
        self.calls.append((argv, json.loads(data.decode('utf-8')) if data else None, env))
        out = self.answer if isinstance(self.answer, bytes) else json.dumps(self.answer).encode('utf-8')
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


def _resolve_error(error, tmp_path, sources=(PRIVATE,)):
    gems, _runner = rubygems({'ok': True, 'targets': {'ruby': {'ok': False, 'error': error}}}, sources=sources,
                             tmp_path=tmp_path)
    with pytest.raises(ResolutionError) as info:
        gems.resolve([(parse_target('ruby'), [GemRequest('x', ())], {})])
    return info.value


def test_an_unknown_gem_is_named_with_the_sources_asked(tmp_path):
    error = _resolve_error({'kind': 'unsatisfiable', 'message': 'Unable to resolve', 'gem': 'airgap_nope',
                            'requirement': '>= 0', 'required_by': None, 'available': []}, tmp_path)
    assert error.msg.startswith('unknown gem airgap_nope for ruby (requested): no source has it (gems.example.com/private/)')
    assert error.details['gem'] == 'airgap_nope'


def test_an_unsatisfiable_version_names_the_gem_requirement_asker_and_what_exists(tmp_path):
    error = _resolve_error({'kind': 'unsatisfiable', 'message': 'x', 'gem': 'airgap_chain_c', 'requirement': '>= 9',
                            'required_by': 'airgap_chain_b-1.1.0', 'available': [['0.5.0', 'ruby']]}, tmp_path)
    assert error.msg == ('no version of gem airgap_chain_c satisfies ">= 9" (required by airgap_chain_b-1.1.0) that fits ruby; '
                         'available: 0.5.0')


def test_conflicting_requirements_name_the_gem_and_both_chains(tmp_path):
    error = _resolve_error({'kind': 'conflict', 'gem': 'airgap_twover', 'message':
                            '  Activated airgap_twover-1.0.0\n  which does not match conflicting dependency (= 2.0.0)\n'}, tmp_path)
    assert error.msg.startswith('conflicting requirements on gem airgap_twover for ruby: Activated airgap_twover-1.0.0 which')


def test_an_unreachable_source_is_named_without_its_credentials(tmp_path):
    error = _resolve_error({'kind': 'unreachable', 'source': PRIVATE, 'message':
                            'Errno::ECONNREFUSED: Connection refused (https://ci:s3cr3t-token@gems.example.com/private/specs.4.8.gz)'},
                           tmp_path)
    assert error.msg.startswith('gem source gems.example.com/private/ is unreachable while trying to resolve the gems for ruby')
    assert 's3cr3t' not in error.msg and 's3cr3t' not in json.dumps(error.details)


def test_a_crash_of_ruby_is_reported_with_its_redacted_stderr(tmp_path):
    gems, _runner = rubygems(b'', rc=1, err=b'oops at https://ci:s3cr3t-token@gems.example.com/', tmp_path=tmp_path)
    with pytest.raises(ResolutionError) as info:
        gems.resolve([(parse_target('ruby'), [GemRequest('x', ())], {})])
    assert 'exit 1' in info.value.msg and 's3cr3t' not in info.value.msg


def test_a_file_name_with_a_path_is_refused(tmp_path):
    gems, _runner = rubygems({'ok': True, 'targets': {'ruby': {'ok': True, 'gems': [
        {'name': 'x', 'version': '1', 'platform': 'ruby', 'filename': '../../etc/x.gem', 'source': PRIVATE, 'requires': []}]}}},
        tmp_path=tmp_path)
    with pytest.raises(ResolutionError, match='not a plain file name'):
        gems.resolve([(parse_target('ruby'), [GemRequest('x', ())], {})])


def test_a_fetched_file_holding_another_gem_is_refused(tmp_path):
    gems, _runner = rubygems({'ok': True, 'files': [
        {'ok': True, 'filename': 'x-1.0.0.gem', 'spec_filename': 'y-6.6.6.gem', 'source': PRIVATE, 'name': 'y',
         'version': '6.6.6', 'platform': 'ruby', 'requires': [], 'native': False}]}, tmp_path=tmp_path)
    with pytest.raises(ResolutionError, match='x-1.0.0.gem from gems.example.com/private/ holds the gem y-6.6.6.gem'):
        gems.fetch(str(tmp_path), [('x-1.0.0.gem', [PRIVATE])])


def test_a_file_on_no_source_is_named(tmp_path):
    gems, _runner = rubygems({'ok': True, 'files': [
        {'ok': False, 'error': {'kind': 'missing', 'message': 'x', 'file': 'x-1.0.0.gem', 'tried': [PRIVATE]}}]},
        tmp_path=tmp_path)
    with pytest.raises(ResolutionError, match='x-1.0.0.gem is on none of the sources \\(gems.example.com/private/\\)'):
        gems.fetch(str(tmp_path), [('x-1.0.0.gem', [PRIVATE])])


def test_gems_resolved_from_a_compact_index_elsewhere_come_from_the_configured_source(tmp_path):
    sources = ['https://rubygems.org/', PRIVATE, 'https://gems.example.com/other/']
    gems, _runner = rubygems({'ok': True, 'targets': {'ruby': {'ok': True, 'gems': [
        {'name': 'rake', 'version': '13.0.6', 'platform': 'ruby', 'filename': 'rake-13.0.6.gem',
         'source': 'https://index.rubygems.org/', 'requires': []},
        {'name': 'tool', 'version': '1.0.0', 'platform': 'ruby', 'filename': 'tool-1.0.0.gem',
         'source': 'https://gems.example.com/private/', 'requires': []}]}}}, sources=sources, tmp_path=tmp_path)
    resolved = gems.resolve([(parse_target('ruby'), [GemRequest('rake', ()), GemRequest('tool', ())], {})])['ruby']
    assert [g.source for g in resolved] == ['https://rubygems.org/', PRIVATE]
