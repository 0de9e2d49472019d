# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_resolver's Ruby helper against real gem sources on loopback: the fixture gems (gem_source) and a
source of gems made here for what the fixtures lack (a precompiled variant, Ruby and RubyGems bounds, a
requirement nothing meets). No hosts, no Ansible: RubyGems resolves, fetches and verifies for real."""

import hashlib
import os
import shutil
import textwrap

import pytest

from sources import GemSource

from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ResolutionError
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_resolver import RubyGems
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_spec import GemRequest, parse_target

pytestmark = pytest.mark.integration

RUBY = shutil.which('ruby')
CHAIN = ['airgap_chain_a-1.0.0.gem', 'airgap_chain_b-1.1.0.gem', 'airgap_chain_c-0.5.0.gem']
HOST_RUBY = {'version': '3.1.2', 'platform': 'x86_64-linux', 'rubygems_version': '3.3.15', 'key': 'ruby-3.1.0-x86_64-linux'}

# name -> the gemspec lines that make it what a test needs.
MADE_HERE = {
    'airgap_wants_c9': 'spec.add_runtime_dependency "airgap_chain_c", ">= 9"',
    'airgap_prebuilt': '',
    'airgap_prebuilt-aarch64-linux': 'spec.platform = "aarch64-linux"',
    'airgap_old_ruby': 'spec.required_ruby_version = "< 3"',
    'airgap_old_rubygems': 'spec.required_rubygems_version = "< 3.3"',
}


@pytest.fixture(scope='module')
def made_source(tmp_path_factory):
    fixtures = tmp_path_factory.mktemp('made-gems')
    for directory, lines in MADE_HERE.items():
        name = directory.split('-', 1)[0]
        os.makedirs(str(fixtures / directory / 'lib'))
        (fixtures / directory / 'lib' / ('%s.rb' % name)).write_text('module Airgap; end\n')
        (fixtures / directory / ('%s.gemspec' % name)).write_text(textwrap.dedent('''\
            Gem::Specification.new do |spec|
              spec.name = "%s"
              spec.version = "1.0.0"
              spec.summary = "airgap.packages test gem %s"
              spec.authors = ["airgap.packages"]
              spec.license = "GPL-3.0-or-later"
              spec.files = Dir["lib/**/*.rb"]
              %s
            end
            ''') % (name, name, lines))
    source = GemSource(str(tmp_path_factory.mktemp('made-source')), fixtures=str(fixtures)).build().start()
    yield source
    source.stop()


def resolve(sources, *targets):
    """{key: [ResolvedGem]} for (target, [request texts], prefer) tuples."""
    with RubyGems(RUBY, list(sources)) as gems:
        return gems.resolve([(parse_target(t), [_request(r) for r in requests], prefer) for t, requests, prefer in targets])


def resolve_error(sources, target, requests):
    with pytest.raises(ResolutionError) as info:
        resolve(sources, (target, requests, {}))
    return info.value


def _request(text):
    name, _sep, requirement = text.partition(':')
    return GemRequest(name, tuple(r.strip() for r in requirement.split(',')) if requirement else ())


def _sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


# --- resolving ---------------------------------------------------------------------------------------

def test_the_closure_of_each_request_resolves_per_target_with_requirements_and_sources(gem_source):
    resolved = resolve([gem_source.url], ('ruby', ['airgap_chain_a', 'airgap_native', 'airgap_twover:= 1.0.0'], {}),
                       (HOST_RUBY, ['airgap_chain_a'], {}))
    by_file = dict((g.filename, g) for g in resolved['ruby'])
    assert sorted(by_file) == sorted(CHAIN + ['airgap_native-1.0.0.gem', 'airgap_twover-1.0.0.gem'])
    assert by_file['airgap_chain_a-1.0.0.gem'].requires == ['airgap_chain_b (~> 1.0)']
    assert by_file['airgap_chain_b-1.1.0.gem'].requires == ['airgap_chain_c (>= 0.5)']
    assert set(g.source for g in resolved['ruby']) == set([gem_source.url])
    assert set(g.platform for g in resolved['ruby']) == set(['ruby'])
    assert sorted(g.filename for g in resolved['ruby-3.1.0-x86_64-linux']) == CHAIN


def test_a_preferred_version_is_kept_where_it_fits_and_the_newest_is_taken_otherwise(gem_source):
    preferred = resolve([gem_source.url], ('ruby', ['airgap_twover'], {'airgap_twover': '1.0.0'}))['ruby']
    newest = resolve([gem_source.url], ('ruby', ['airgap_twover'], {}))['ruby']
    assert [g.filename for g in preferred] == ['airgap_twover-1.0.0.gem']
    assert [g.filename for g in newest] == ['airgap_twover-2.0.0.gem']
    # A preference the request rules out gives way to it.
    assert [g.version for g in resolve([gem_source.url], ('ruby', ['airgap_twover:>= 2'], {'airgap_twover': '1.0.0'}))['ruby']] == ['2.0.0']


def test_an_unknown_gem_is_named_with_the_sources_asked(gem_source):
    error = resolve_error([gem_source.url], 'ruby', ['airgap_nope'])
    label = gem_source.url.split('://', 1)[1]
    assert error.msg.startswith('unknown gem airgap_nope for ruby (requested): no source has it (%s)' % label)
    assert error.details['gem'] == 'airgap_nope'


def test_an_unsatisfiable_version_names_the_gem_requirement_asker_and_what_exists(gem_source, made_source):
    error = resolve_error([gem_source.url, made_source.url], 'ruby', ['airgap_wants_c9'])
    assert error.msg == ('no version of gem airgap_chain_c satisfies ">= 9" (required by airgap_wants_c9-1.0.0) that fits ruby; '
                         'available: 0.5.0')
    assert (error.details['gem'], error.details['required_by']) == ('airgap_chain_c', 'airgap_wants_c9-1.0.0')


def test_conflicting_requirements_name_the_gem_and_both_chains(gem_source):
    error = resolve_error([gem_source.url], 'ruby', ['airgap_twover:= 1.0.0', 'airgap_twover:= 2.0.0'])
    assert error.msg.startswith('conflicting requirements on gem airgap_twover for ruby: Activated airgap_twover-1.0.0 which')
    assert '(= 2.0.0)' in error.msg and error.details['gem'] == 'airgap_twover'


# --- the patches, by their effect on a real resolution --------------------------------------------------

def test_the_precompiled_gem_for_the_target_platform_wins_and_other_targets_get_the_ruby_one(made_source):
    # Patch 1 (Gem::Platform.local) and Gem.platforms: aarch64-linux is not this controller's platform.
    resolved = resolve([made_source.url], ('aarch64-linux', ['airgap_prebuilt'], {}), ('x86_64-linux', ['airgap_prebuilt'], {}),
                       ('ruby', ['airgap_prebuilt'], {}))
    assert [g.filename for g in resolved['aarch64-linux']] == ['airgap_prebuilt-1.0.0-aarch64-linux.gem']
    assert [g.platform for g in resolved['aarch64-linux']] == ['aarch64-linux']
    assert [g.filename for g in resolved['x86_64-linux']] == ['airgap_prebuilt-1.0.0.gem']
    assert [g.filename for g in resolved['ruby']] == ['airgap_prebuilt-1.0.0.gem']


def test_required_ruby_version_is_checked_against_the_target_ruby_not_this_one(made_source):
    # Patch 2 (Gem.ruby_version): this controller runs Ruby 3.x, the old host Ruby 2.7.
    old_host = {'platform': 'x86_64-linux', 'version': '2.7.4'}
    assert [g.filename for g in resolve([made_source.url], (old_host, ['airgap_old_ruby'], {}))['ruby-2.7.0-x86_64-linux']] == [
        'airgap_old_ruby-1.0.0.gem']
    error = resolve_error([made_source.url], HOST_RUBY, ['airgap_old_ruby'])
    assert error.msg.startswith('no version of gem airgap_old_ruby satisfies ">= 0" (requested) that fits ruby-3.1.0-x86_64-linux')
    assert error.details['misfits'] == ['1.0.0 needs Ruby < 3']


def test_required_rubygems_version_is_checked_against_the_target_rubygems_not_this_one(made_source):
    # Patch 3 (Gem.rubygems_version): this controller runs RubyGems 3.3 or later, the old host 3.2.
    old_host = {'platform': 'x86_64-linux', 'version': '3.0.6', 'rubygems_version': '3.2.5'}
    assert [g.filename for g in resolve([made_source.url], (old_host, ['airgap_old_rubygems'], {}))['ruby-3.0.0-x86_64-linux']] == [
        'airgap_old_rubygems-1.0.0.gem']
    error = resolve_error([made_source.url], HOST_RUBY, ['airgap_old_rubygems'])
    assert error.details['misfits'] == ['1.0.0 needs RubyGems < 3.3']


# --- fetching ------------------------------------------------------------------------------------------

def test_fetched_gems_are_verified_and_described_from_their_own_metadata(gem_source, tmp_path):
    files = CHAIN + ['airgap_native-1.0.0.gem']
    with RubyGems(RUBY, [gem_source.url]) as gems:
        fetched = gems.fetch(str(tmp_path), [(f, [gem_source.url]) for f in files])
    by_file = dict((g.filename, g) for g in fetched)
    assert sorted(by_file) == sorted(files)
    native = by_file['airgap_native-1.0.0.gem']
    assert (native.name, native.version, native.platform, native.native, native.source) == (
        'airgap_native', '1.0.0', 'ruby', True, gem_source.url)
    assert by_file['airgap_chain_a-1.0.0.gem'].requires == ['airgap_chain_b (~> 1.0)'] and not by_file['airgap_chain_a-1.0.0.gem'].native
    for filename in files:
        assert _sha256(str(tmp_path / filename)) == _sha256(gem_source.gems[filename])
    assert sorted(os.listdir(str(tmp_path))) == sorted(files)  # no .part file left behind


def test_a_file_missing_on_the_first_source_is_fetched_from_the_next(gem_source, made_source, tmp_path):
    with RubyGems(RUBY, [made_source.url, gem_source.url]) as gems:
        [fetched] = gems.fetch(str(tmp_path), [('airgap_chain_c-0.5.0.gem', [made_source.url, gem_source.url])])
    assert fetched.source == gem_source.url


def test_a_fetched_file_holding_another_gem_is_refused(gem_source, tmp_path):
    impostor = tmp_path / 'impostor'
    os.makedirs(str(impostor / 'gems'))
    shutil.copy(gem_source.gems['airgap_chain_c-0.5.0.gem'], str(impostor / 'gems' / 'airgap_x-1.0.0.gem'))
    url = 'file://%s/' % impostor
    with RubyGems(RUBY, [url]) as gems:
        with pytest.raises(ResolutionError, match='airgap_x-1.0.0.gem from %s/ holds the gem airgap_chain_c-0.5.0.gem' % impostor):
            gems.fetch(str(tmp_path), [('airgap_x-1.0.0.gem', [url])])


def test_a_file_on_no_source_is_named(gem_source, tmp_path):
    label = gem_source.url.split('://', 1)[1]
    with RubyGems(RUBY, [gem_source.url]) as gems:
        with pytest.raises(ResolutionError, match='airgap_nope-1.0.0.gem is on none of the sources \\(%s\\)' % label):
            gems.fetch(str(tmp_path), [('airgap_nope-1.0.0.gem', [gem_source.url])])


def test_a_corrupt_file_is_named_with_its_source(gem_source, tmp_path):
    broken = tmp_path / 'broken'
    os.makedirs(str(broken / 'gems'))
    with open(gem_source.gems['airgap_chain_c-0.5.0.gem'], 'rb') as handle:
        data = bytearray(handle.read())
    data[1600] ^= 0xff  # inside metadata.gz or data.tar.gz: Gem::Package#verify notices
    (broken / 'gems' / 'airgap_chain_c-0.5.0.gem').write_bytes(bytes(data))
    url = 'file://%s/' % broken
    with RubyGems(RUBY, [url]) as gems:
        with pytest.raises(ResolutionError, match='airgap_chain_c-0.5.0.gem from %s/ is not a valid gem' % broken):
            gems.fetch(str(tmp_path), [('airgap_chain_c-0.5.0.gem', [url])])
