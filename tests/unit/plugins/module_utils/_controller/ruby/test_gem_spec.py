# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""gem_cache's rules on requests and targets, and the platform and Gemfile.lock rules that Ruby answers:
the platform and lock tests ask RubyGems and Bundler through the Ruby helper (they run ruby)."""

import shutil
import textwrap

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby import gem_spec
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ResolutionError
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_resolver import RubyGems
from ansible_collections.airgap.packages.plugins.module_utils._controller.ruby.gem_spec import GemRequest


@pytest.fixture(scope='module')
def rubygems():
    with RubyGems(shutil.which('ruby'), []) as gems:
        yield gems


def read_lock(rubygems, text, origin='Gemfile.lock', platforms=('ruby',)):
    """The Lockfile as Bundler reads it, with RubyGems' fit for each of platforms."""
    return rubygems.read_gemfile_lock(text, origin, platforms)


# --- requirements -------------------------------------------------------------------------

@pytest.mark.parametrize('item, expected', [
    ('rake', GemRequest('rake', ())),
    ('rake:~> 13.0', GemRequest('rake', ('~> 13.0',))),
    ('rake: >= 13, < 14 ', GemRequest('rake', ('>= 13', '< 14'))),
    ('rake:13.0.6', GemRequest('rake', ('= 13.0.6',))),
    ('rake:>= 0', GemRequest('rake', ())),
    ({'name': 'rake', 'version': '~> 13.0'}, GemRequest('rake', ('~> 13.0',))),
    ({'name': 'rake'}, GemRequest('rake', ())),
    ('nokogiri:1.16.0.rc1', GemRequest('nokogiri', ('= 1.16.0.rc1',))),
])
def test_gem_requests_accept_name_colon_requirement_and_dicts(item, expected):
    assert gem_spec.parse_gem_request(item) == expected


@pytest.mark.parametrize('item, culprit', [
    ('rake:~> thirteen', 'thirteen'),
    ('rake:=> 1', '=> 1'),
    ('ra ke', 'ra ke'),
    ({'name': 'rake', 'versoin': '1'}, 'versoin'),
    (42, '42'),
])
def test_malformed_gem_requests_name_the_culprit(item, culprit):
    with pytest.raises(ResolutionError) as info:
        gem_spec.parse_gem_request(item)
    assert culprit in info.value.msg


def test_request_text_is_what_rubygems_prints():
    assert GemRequest('rake', ()).text == 'rake'
    assert GemRequest('rake', ('>= 13', '< 14')).text == 'rake (>= 13, < 14)'


def test_naming_a_gem_twice_combines_its_requirements_in_first_seen_order():
    merged = gem_spec.merge_requests([GemRequest('b', ('>= 1',)), GemRequest('a', ()), GemRequest('b', ('< 2', '>= 1'))])
    assert merged == [GemRequest('b', ('>= 1', '< 2')), GemRequest('a', ())]


# --- platforms ----------------------------------------------------------------------------

SPLITS = [
    # Each expectation is what Gem::Platform.new(text) gives in RubyGems 3.3.
    ('x86_64-linux', ('x86_64', 'linux', None)),
    ('x86_64-linux-gnu', ('x86_64', 'linux', None)),
    ('x86_64-linux-musl', ('x86_64', 'linux', 'musl')),
    ('arm64-darwin-21', ('arm64', 'darwin', '21')),
    ('universal-darwin', ('universal', 'darwin', None)),
    ('java', (None, 'java', None)),
    ('universal-java-11', ('universal', 'java', '11')),
    ('x64-mingw-ucrt', ('x64', 'mingw', 'ucrt')),
    ('x64-mingw32', ('x64', 'mingw32', None)),
    ('i386-mswin32', ('x86', 'mswin32', None)),
    ('x86-mswin32-60', ('x86', 'mswin32', '60')),
    ('i686-linux', ('x86', 'linux', None)),
    ('sparc-solaris-2.10', ('sparc', 'solaris', '2.10')),
    ('armv7l-linux-eabihf', ('armv7l', 'linux', 'eabihf')),
]

MATCHES = [
    ('x86_64-linux', 'ruby', True),
    ('x86_64-linux', 'x86_64-linux', True),
    ('x86_64-linux', 'x86_64-linux-gnu', True),
    ('x86_64-linux', 'aarch64-linux', False),
    ('x86_64-linux', 'x86_64-darwin', False),
    ('x86_64-linux-musl', 'x86_64-linux-gnu', True),
    ('arm64-darwin-21', 'universal-darwin', True),
    ('arm64-darwin-21', 'arm64-darwin-22', False),
    ('arm-linux', 'armv7l-linux', True),
    ('ruby', 'x86_64-linux', False),
    ('ruby', 'ruby', True),
]


@pytest.fixture(scope='module')
def platform_answers(rubygems):
    """RubyGems' answers to every case below, from one run of the helper."""
    split, match = rubygems.platforms(split=[text for text, _expected in SPLITS],
                                      match=[(target, gem_platform) for target, gem_platform, _fits in MATCHES])
    return split, dict(((target, gem_platform), fits) for (target, gem_platform, _f), fits in zip(MATCHES, match))


@pytest.mark.parametrize('text, expected', SPLITS)
def test_platform_strings_split_as_gem_platform_does(text, expected, platform_answers):
    assert platform_answers[0][text] == expected


@pytest.mark.parametrize('target, gem_platform, fits', MATCHES)
def test_a_gem_fits_a_target_by_cpu_os_and_version(target, gem_platform, fits, platform_answers):
    assert platform_answers[1][(target, gem_platform)] is fits


def test_a_platform_string_is_its_own_key_and_has_no_ruby_version():
    target = gem_spec.parse_target('x86_64-linux')
    assert target.key == 'x86_64-linux'
    assert target.environment == {'key': 'x86_64-linux', 'platform': 'x86_64-linux'}


def test_platform_facts_ruby_dict_keeps_its_key_and_records_ruby_and_abi():
    facts = {'version': '3.1.2', 'platform': 'x86_64-linux', 'rubygems_version': '3.3.15',
             'key': 'ruby-3.1.0-x86_64-linux', 'abi_version': '3.1.0', 'executable': '/usr/bin/ruby', 'engine': 'ruby'}
    target = gem_spec.parse_target(facts)
    assert target.key == 'ruby-3.1.0-x86_64-linux'
    assert target.environment == {'key': 'ruby-3.1.0-x86_64-linux', 'platform': 'x86_64-linux', 'ruby_version': '3.1.2',
                                  'abi_version': '3.1.0', 'rubygems_version': '3.3.15'}


def test_a_ruby_dict_without_key_gets_the_platform_facts_key():
    assert gem_spec.parse_target({'platform': 'aarch64-linux', 'version': '2.7.4'}).key == 'ruby-2.7.0-aarch64-linux'


def test_hosts_with_the_same_key_share_one_target():
    facts = {'version': '3.1.2', 'platform': 'x86_64-linux', 'key': 'ruby-3.1.0-x86_64-linux'}
    assert len(gem_spec.parse_targets([facts, dict(facts), 'ruby'])) == 2


def test_one_key_for_two_different_environments_is_refused():
    with pytest.raises(ResolutionError, match='share the key'):
        gem_spec.parse_targets([{'platform': 'x86_64-linux', 'version': '3.1.2', 'key': 'k'},
                                {'platform': 'aarch64-linux', 'version': '3.1.2', 'key': 'k'}])


@pytest.mark.parametrize('item', ['x86_64 linux', '', {'version': '3.1'}, {'platform': 'x', 'key': '../up'}, 7])
def test_unusable_platforms_are_refused(item):
    with pytest.raises(ResolutionError, match='platforms'):
        gem_spec.parse_targets([item])


# --- Gemfile.lock -------------------------------------------------------------------------

LOCK = textwrap.dedent('''\
    GEM
      remote: https://rubygems.org/
      specs:
        airgap_chain_a (1.0.0)
          airgap_chain_b (~> 1.0)
        airgap_chain_b (1.1.0)
          airgap_chain_c (>= 0.5)
        airgap_chain_c (0.5.0)
        airgap_native (1.0.0)
          mini_portile2 (~> 2.8.2)
        airgap_native (1.0.0-x86_64-linux)
        mini_portile2 (2.8.5)
        tool (2.0.0-java)

    PLATFORMS
      ruby
      x86_64-linux

    DEPENDENCIES
      airgap_chain_a
      airgap_native (>= 1.0, < 2)!

    BUNDLED WITH
       2.3.15
    ''')


def test_gemfile_lock_specs_platforms_and_dependencies_are_read(rubygems):
    lock = read_lock(rubygems, LOCK)
    assert [(s.name, s.version, s.platform) for s in lock.specs][:5] == [
        ('airgap_chain_a', '1.0.0', 'ruby'), ('airgap_chain_b', '1.1.0', 'ruby'), ('airgap_chain_c', '0.5.0', 'ruby'),
        ('airgap_native', '1.0.0', 'ruby'), ('airgap_native', '1.0.0', 'x86_64-linux')]
    assert lock.specs[0].requires == (GemRequest('airgap_chain_b', ('~> 1.0',)),)
    assert lock.platforms == ['ruby', 'x86_64-linux']
    assert lock.dependencies == [GemRequest('airgap_chain_a', ()), GemRequest('airgap_native', ('>= 1.0', '< 2'))]


def test_locked_variant_for_a_platform_is_the_precompiled_one_with_its_own_dependencies(rubygems):
    chosen, _warnings = read_lock(rubygems, LOCK, platforms=['x86_64-linux']).gems_for('x86_64-linux')
    assert chosen['airgap_native'].platform == 'x86_64-linux'
    assert chosen['airgap_native'].requires == ()
    assert chosen['airgap_chain_a'].platform == 'ruby'


def test_a_locked_variant_keeps_the_platform_name_the_lock_writes(rubygems):
    # RubyGems 3.3 reads x86_64-linux-gnu as x86_64-linux; the file on the source is named as the lock says.
    lock = read_lock(rubygems, LOCK.replace('airgap_native (1.0.0-x86_64-linux)', 'airgap_native (1.0.0-x86_64-linux-gnu)'),
                     platforms=['x86_64-linux'])
    chosen, _warnings = lock.gems_for('x86_64-linux')
    assert chosen['airgap_native'].platform == 'x86_64-linux-gnu'
    assert gem_spec.gem_filename('airgap_native', '1.0.0', chosen['airgap_native'].platform) == 'airgap_native-1.0.0-x86_64-linux-gnu.gem'


def test_a_gem_locked_only_for_another_platform_is_left_out_with_a_warning(rubygems):
    chosen, warnings = read_lock(rubygems, LOCK, platforms=['x86_64-linux']).gems_for('x86_64-linux')
    assert 'tool' not in chosen
    assert warnings == ['Gemfile.lock locks tool only for java: not cached for platform x86_64-linux']


def test_locked_variant_for_ruby_is_the_source_gem(rubygems):
    lock = read_lock(rubygems, LOCK.replace('    tool (2.0.0-java)\n', ''))
    chosen, _warnings = lock.gems_for('ruby')
    assert chosen['airgap_native'].platform == 'ruby'
    assert sorted(chosen) == ['airgap_chain_a', 'airgap_chain_b', 'airgap_chain_c', 'airgap_native', 'mini_portile2']


def test_a_needed_gem_locked_only_for_another_platform_is_an_error_naming_both(rubygems):
    lock = read_lock(rubygems, LOCK.replace('    airgap_chain_c (0.5.0)\n', '    airgap_chain_c (0.5.0)\n      tool\n'),
                     platforms=['x86_64-linux'])
    with pytest.raises(ResolutionError, match='tool only for java.*airgap_chain_c needs it.*add-platform x86_64-linux'):
        lock.gems_for('x86_64-linux')


def test_a_target_platform_missing_from_a_lock_without_ruby_warns(rubygems):
    lock = read_lock(rubygems, LOCK.replace('  ruby\n  x86_64-linux\n', '  x86_64-linux\n').replace('    tool (2.0.0-java)\n', ''),
                     platforms=['aarch64-linux'])
    _chosen, warnings = lock.gems_for('aarch64-linux')
    assert 'aarch64-linux' in warnings[0]


@pytest.mark.parametrize('change, why', [
    (('PLATFORMS', 'PLATFORMZ'), "line 15: unknown section 'PLATFORMZ'"),
    (('    airgap_chain_c (0.5.0)\n', '    airgap_chain_c (zero)\n'), "line 8: "),
    (('    airgap_chain_c (0.5.0)\n', '\tairgap_chain_c (0.5.0)\n'), 'line 8: tab'),
    (('    airgap_chain_c (0.5.0)\n', '    airgap_chain_c 0.5.0\n'), "line 8: spec 'airgap_chain_c 0.5.0' has no version"),
    (('  airgap_chain_a\n', '<<<<<<< HEAD\n  airgap_chain_a\n'), 'merge conflict'),
    (('  airgap_chain_a\n', '  airgap_chain_z\n'), 'DEPENDENCIES names airgap_chain_z'),
    (('      airgap_chain_c (>= 0.5)\n', '      airgap_chain_x (>= 0.5)\n'), 'depends on airgap_chain_x'),
    (('      airgap_chain_b (~> 1.0)\n', '      airgap_chain_b (~> one)\n'), 'line 5: '),
    (('  remote: https://rubygems.org/\n', '  remote https://rubygems.org/\n'), 'line 2: '),
])
def test_malformed_gemfile_locks_fail_with_the_file_and_line(change, why, rubygems):
    text = LOCK.replace(*change)
    assert text != LOCK
    with pytest.raises(ResolutionError) as info:
        read_lock(rubygems, text, '/app/Gemfile.lock')
    assert '/app/Gemfile.lock' in info.value.msg
    assert why in info.value.msg


def test_a_file_that_is_not_a_lock_fails_clearly(rubygems):
    with pytest.raises(ResolutionError, match='no GEM specs'):
        read_lock(rubygems, 'DEPENDENCIES\n  rake\n')
    with pytest.raises(ResolutionError, match='unknown section'):
        read_lock(rubygems, 'source "https://rubygems.org"\ngem "rake"\n')


def test_git_and_path_gems_cannot_be_cached(rubygems):
    text = LOCK.replace('GEM\n', 'GIT\n  remote: https://example.com/x.git\n  revision: abc\n  specs:\n    xgem (0.1.0)\n\nGEM\n', 1)
    text = text.replace('  airgap_chain_a\n', '  airgap_chain_a\n  xgem!\n')
    lock = read_lock(rubygems, text)
    with pytest.raises(ResolutionError, match='GIT, PATH or plugin sources \\(xgem 0.1.0\\)'):
        lock.gems_for('ruby')


def test_path_and_plugin_source_gems_cannot_be_cached_either(rubygems):
    # Bundler reads a PLUGIN SOURCE section only with its plugin installed: its specs are named without it.
    text = LOCK.replace('GEM\n', 'PATH\n  remote: vendor/pgem\n  specs:\n    pgem (0.3.0)\n\n'
                        'PLUGIN SOURCE\n  remote: https://example.com/\n  type: custom\n  specs:\n    plugged (0.2.0)\n\nGEM\n', 1)
    text = text.replace('  airgap_chain_a\n', '  airgap_chain_a\n  pgem!\n  plugged!\n')
    lock = read_lock(rubygems, text)
    with pytest.raises(ResolutionError, match='GIT, PATH or plugin sources \\(pgem 0.3.0, plugged 0.2.0\\)'):
        lock.gems_for('ruby')


def test_a_dependency_on_bundler_needs_no_locked_spec(rubygems):
    text = LOCK.replace('      airgap_chain_c (>= 0.5)\n', '      airgap_chain_c (>= 0.5)\n      bundler (>= 1.15)\n')
    assert read_lock(rubygems, text).specs[1].requires[-1].name == 'bundler'


# --- small helpers ------------------------------------------------------------------------

def test_closure_follows_dependencies_and_survives_cycles():
    graph = {'a': ['b'], 'b': ['c', 'a'], 'c': [], 'd': ['a']}
    assert gem_spec.closure('a', lambda n: graph[n]) == set(['a', 'b', 'c'])


def test_gem_file_names_are_the_ones_rubygems_writes():
    assert gem_spec.gem_filename('rake', '13.0.6', 'ruby') == 'rake-13.0.6.gem'
    assert gem_spec.gem_filename('nokogiri', '1.15.5', 'x86_64-linux') == 'nokogiri-1.15.5-x86_64-linux.gem'
