# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target.ruby import gem_plan
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ManifestError, VerificationError
from ansible_collections.airgap.packages.plugins.module_utils._target.ruby.gem_plan import InstalledGem, Toolchain
from ansible_collections.airgap.packages.plugins.module_utils._common.manifest import Artifact, Manifest, TopLevel


def art(name, version, platform='ruby', requires=(), native=False):
    filename = '%s-%s%s.gem' % (name, version, '' if platform == 'ruby' else '-' + platform)
    return Artifact(filename, name, version, 10, '0' * 64, platform, list(requires), '', False, native)


def gem(name, version, platform='ruby', requires=(), missing_extensions=False):
    full = '%s-%s%s' % (name, version, '' if platform == 'ruby' else '-' + platform)
    return InstalledGem(name, version, platform, full, missing_extensions, missing_extensions, list(requires))


CHAIN = [art('chain_a', '1.0.0', requires=['chain_b (~> 1.0)']), art('chain_b', '1.1.0', requires=['chain_c (>= 0.5)']),
         art('chain_c', '0.5.0')]


def manifest(artifacts, tops):
    return Manifest('ruby', {'key': 'k'}, [TopLevel(n, n, c) for n, c in tops], artifacts)


def actions(steps):
    return [(s.change.name, s.change.action, s.change.before, s.change.after) for s in steps]


def test_requirement_name_reads_every_spelling_of_a_dependency():
    assert gem_plan.requirement_name('rack (>= 2.0, < 4)') == 'rack'
    assert gem_plan.requirement_name('rack-test ~> 1.1') == 'rack-test'
    assert gem_plan.requirement_name('net_http') == 'net_http'
    assert gem_plan.requirement_name({'name': 'rack', 'requirement': '>= 2'}) == 'rack'


def test_identity_spells_platform_gems_as_rubygems_full_names():
    assert gem_plan.identity('1.2.0', 'ruby') == '1.2.0'
    assert gem_plan.identity('1.2.0', '') == '1.2.0'
    assert gem_plan.identity('1.2.0', 'x86_64-linux') == '1.2.0-x86_64-linux'


@pytest.mark.parametrize('lower, higher', [
    ('1.0.a', '1.0'),
    ('1.0', '1.0.1'),
    ('1.0.a', '1.0.1'),
    ('1.9', '1.10'),
    ('2.0.0.pre', '2.0.0'),
    ('1.0.rc1', '1.0'),
    ('1.0.b2', '1.0.rc1'),
    ('13.2.1', '13.10'),
])
def test_gem_versions_order_as_rubygems_orders_them(lower, higher):
    assert gem_plan.compare_gem_versions(lower, higher) == -1
    assert gem_plan.compare_gem_versions(higher, lower) == 1


def test_gem_versions_that_differ_by_trailing_zeros_are_equal():
    assert gem_plan.compare_gem_versions('1.0', '1.0.0') == 0
    assert gem_plan.compare_gem_versions('1.0.a', '1.0.a.0') == 0


def test_prerelease_gem_installed_is_upgraded_to_the_release():
    steps = gem_plan.plan_present([art('pre', '1.0')], [gem('pre', '1.0.a')])
    assert actions(steps) == [('pre', 'upgrade', '1.0.a', '1.0')]


def test_empty_install_dir_plans_every_gem_of_the_closure_as_install():
    steps = gem_plan.plan_present(CHAIN, [])
    assert actions(steps) == [('chain_a', 'install', None, '1.0.0'), ('chain_b', 'install', None, '1.1.0'),
                              ('chain_c', 'install', None, '0.5.0')]
    assert [a.filename for s in steps for a in s.install] == ['chain_a-1.0.0.gem', 'chain_b-1.1.0.gem', 'chain_c-0.5.0.gem']


def test_converged_install_dir_plans_nothing():
    installed = [gem('chain_a', '1.0.0', requires=['chain_b']), gem('chain_b', '1.1.0', requires=['chain_c']), gem('chain_c', '0.5.0')]
    assert gem_plan.plan_present(CHAIN, installed) == []


def test_uninstalled_gem_is_the_only_one_planned():
    installed = [gem('chain_a', '1.0.0'), gem('chain_c', '0.5.0')]
    steps = gem_plan.plan_present(CHAIN, installed)
    assert actions(steps) == [('chain_b', 'install', None, '1.1.0')]
    assert [a.filename for a in steps[0].install] == ['chain_b-1.1.0.gem'] and steps[0].remove == []


def test_other_version_instead_of_the_pinned_one_is_a_downgrade_that_removes_it():
    steps = gem_plan.plan_present([art('twover', '1.0.0')], [gem('twover', '2.0.0')])
    assert actions(steps) == [('twover', 'downgrade', '2.0.0', '1.0.0')]
    assert [g.full_name for g in steps[0].remove] == ['twover-2.0.0']
    assert [a.filename for a in steps[0].install] == ['twover-1.0.0.gem']


def test_older_version_installed_is_upgraded():
    steps = gem_plan.plan_present([art('twover', '2.0.0')], [gem('twover', '1.0.0')])
    assert actions(steps) == [('twover', 'upgrade', '1.0.0', '2.0.0')]


def test_other_version_beside_the_pinned_one_is_pruned_without_reinstalling():
    steps = gem_plan.plan_present([art('twover', '2.0.0')], [gem('twover', '2.0.0'), gem('twover', '1.0.0')])
    assert actions(steps) == [('twover', gem_plan.PRUNE, '1.0.0, 2.0.0', '2.0.0')]
    assert steps[0].install == [] and [g.full_name for g in steps[0].remove] == ['twover-1.0.0']


def test_newer_version_beside_the_pinned_one_is_a_downgrade_of_the_active_version():
    steps = gem_plan.plan_present([art('twover', '1.0.0')], [gem('twover', '2.0.0'), gem('twover', '1.0.0')])
    assert actions(steps) == [('twover', 'downgrade', '1.0.0, 2.0.0', '1.0.0')]
    assert steps[0].install == [] and [g.full_name for g in steps[0].remove] == ['twover-2.0.0']


def test_gem_whose_extension_was_never_built_is_reinstalled():
    steps = gem_plan.plan_present([art('native', '1.0.0', native=True)], [gem('native', '1.0.0', missing_extensions=True)])
    assert actions(steps) == [('native', 'reinstall', '1.0.0 (extensions not built)', '1.0.0')]
    assert [a.filename for a in steps[0].install] == ['native-1.0.0.gem'] and steps[0].remove == []


def test_same_version_of_another_platform_is_reinstalled_and_the_other_removed():
    steps = gem_plan.plan_present([art('nat', '1.0.0', 'x86_64-linux')], [gem('nat', '1.0.0')])
    assert actions(steps) == [('nat', 'reinstall', '1.0.0', '1.0.0-x86_64-linux')]
    assert [g.full_name for g in steps[0].remove] == ['nat-1.0.0']


def test_sync_removes_only_gems_the_manifest_does_not_list():
    installed = [gem('chain_c', '0.5.0'), gem('stray', '3.0'), gem('listed_elsewhere', '1.0')]
    steps = gem_plan.plan_present([art('chain_c', '0.5.0')], installed, sync=True, listed_names=['chain_c', 'listed_elsewhere'])
    assert actions(steps) == [('stray', 'remove', '3.0', None)]


def test_without_sync_unlisted_gems_stay():
    assert gem_plan.plan_present([art('chain_c', '0.5.0')], [gem('chain_c', '0.5.0'), gem('stray', '3.0')]) == []


def test_absent_removes_every_version_of_the_named_gems():
    steps, kept = gem_plan.plan_absent(['twover'], [gem('twover', '1.0.0'), gem('twover', '2.0.0'), gem('other', '1')])
    assert actions(steps) == [('twover', 'remove', '1.0.0, 2.0.0', None)]
    assert sorted(g.full_name for g in steps[0].remove) == ['twover-1.0.0', 'twover-2.0.0'] and kept == {}


def test_absent_keeps_a_dependency_that_a_staying_gem_needs_and_says_which():
    installed = [gem('chain_a', '1.0.0', requires=['chain_b']), gem('chain_b', '1.1.0', requires=['chain_c']),
                 gem('chain_c', '0.5.0'), gem('app', '1', requires=['chain_b'])]
    steps, kept = gem_plan.plan_absent(['chain_a', 'chain_b', 'chain_c'], installed)
    assert actions(steps) == [('chain_a', 'remove', '1.0.0', None)]
    assert kept == {'chain_b': ['app'], 'chain_c': ['chain_b']}


def test_absent_keeps_what_other_top_level_gems_of_the_manifest_need():
    installed = [gem('a', '1', requires=['shared']), gem('shared', '1')]
    steps, kept = gem_plan.plan_absent(['a', 'shared'], installed, keep_names=['shared'])
    assert actions(steps) == [('a', 'remove', '1', None)]
    # shared stays because keep_names lists it, not because a staying gem needs it: kept names only the latter.
    assert kept == {}


def test_absent_with_nothing_installed_plans_nothing():
    assert gem_plan.plan_absent(['a'], []) == ([], {})


def test_install_order_puts_dependencies_first():
    ordered = gem_plan.install_order(list(CHAIN))
    assert [a.name for a in ordered] == ['chain_c', 'chain_b', 'chain_a']


def test_install_order_survives_a_dependency_cycle():
    cycle = [art('x', '1', requires=['y']), art('y', '1', requires=['x'])]
    assert sorted(a.name for a in gem_plan.install_order(cycle)) == ['x', 'y']


def test_selected_artifacts_follow_the_closure_of_the_named_top_level_gems():
    m = manifest(CHAIN + [art('twover', '2.0.0')], [('chain_a', ['chain_a', 'chain_b', 'chain_c']), ('twover', ['twover'])])
    chosen = gem_plan.selected_artifacts(m, ['twover'], lambda p: True)
    assert [a.name for a in chosen] == ['twover']
    assert len(gem_plan.selected_artifacts(m, [], lambda p: True)) == 4


def test_selected_artifacts_add_a_dependency_the_recorded_closure_forgot():
    m = manifest(list(CHAIN), [('chain_a', ['chain_a', 'chain_b'])])
    assert [a.name for a in gem_plan.selected_artifacts(m, ['chain_a'], lambda p: True)] == ['chain_a', 'chain_b', 'chain_c']


def test_unknown_top_level_gem_is_an_error_naming_the_known_ones():
    m = manifest(list(CHAIN), [('chain_a', ['chain_a', 'chain_b', 'chain_c'])])
    with pytest.raises(ManifestError, match='nokogiri not among the top-level requirements of this cache \\(chain_a\\)'):
        gem_plan.selected_artifacts(m, ['nokogiri'], lambda p: True)


def test_python_cache_is_refused():
    m = Manifest('python', {'key': 'k'}, [], [])
    with pytest.raises(ManifestError, match='python artifacts, not gems'):
        gem_plan.selected_artifacts(m, [], lambda p: True)


def test_binary_gem_for_this_platform_wins_over_the_source_gem():
    m = manifest([art('nat', '1.0.0', native=True), art('nat', '1.0.0', 'x86_64-linux')], [('nat', ['nat'])])
    chosen = gem_plan.selected_artifacts(m, [], lambda p: p in ('ruby', 'x86_64-linux'))
    assert [a.filename for a in chosen] == ['nat-1.0.0-x86_64-linux.gem']


def test_source_gem_is_chosen_when_the_binary_does_not_fit():
    m = manifest([art('nat', '1.0.0', native=True), art('nat', '1.0.0', 'arm64-darwin')], [('nat', ['nat'])])
    chosen = gem_plan.selected_artifacts(m, [], lambda p: p == 'ruby')
    assert [a.filename for a in chosen] == ['nat-1.0.0.gem']


def test_gem_for_another_platform_only_is_a_verification_error_naming_the_file():
    m = manifest([art('nat', '1.0.0', 'arm64-darwin')], [('nat', ['nat'])])
    with pytest.raises(VerificationError, match='nat-1.0.0-arm64-darwin.gem is for platform arm64-darwin') as info:
        gem_plan.selected_artifacts(m, [], lambda p: p == 'ruby')
    assert info.value.details['problems'][0]['problem'] == 'platform mismatch'


def test_missing_dependency_names_the_gem_file_that_needs_it():
    with pytest.raises(VerificationError) as info:
        gem_plan.check_dependencies('/c', CHAIN[:2], available_names=['json'])
    assert '/c/chain_b-1.1.0.gem requires chain_c, which the cache does not hold' in info.value.msg
    assert info.value.details['problems'] == [{'file': '/c/chain_b-1.1.0.gem', 'problem': 'missing dependency', 'missing': ['chain_c']}]


def test_dependency_on_a_default_gem_of_ruby_needs_no_artifact():
    needs_json = [art('x', '1', requires=['json (>= 2)'])]
    assert gem_plan.missing_dependencies(needs_json, available_names=['json']) == {}
    assert gem_plan.check_dependencies('/c', needs_json, available_names=['json']) is None
    # The same gem on a Ruby without json as a default gem lacks it: available_names is what made the difference.
    assert gem_plan.missing_dependencies(needs_json, available_names=[]) == {'x-1.gem': ['json']}


TOOLS_OK = Toolchain('gcc', '/usr/bin/gcc', 'make', '/usr/bin/make', {'/usr/include/ruby-3.1.0/ruby.h': True})


NO_TOOLS = Toolchain('gcc', None, 'make', None, {'/x/ruby.h': False})


def test_toolchain_is_not_checked_when_no_native_gem_is_installed():
    steps = gem_plan.plan_present([art('plain', '1')], [])
    assert [(a.filename, a.native) for s in steps for a in s.install] == [('plain-1.gem', False)]
    assert gem_plan.check_toolchain(steps, NO_TOOLS) is None
    # The same toolchain is refused as soon as the plan builds a native gem.
    with pytest.raises(VerificationError, match='cannot build the native extensions of nat-1.0.0.gem'):
        gem_plan.check_toolchain(gem_plan.plan_present([art('nat', '1.0.0', native=True)], []), NO_TOOLS)


def test_missing_compiler_make_and_headers_are_each_named():
    steps = gem_plan.plan_present([art('nat', '1.0.0', native=True)], [])
    broken = Toolchain('x86_64-linux-gnu-gcc', None, 'make', None, {'/usr/include/ruby-3.1.0/ruby.h': False})
    with pytest.raises(VerificationError) as info:
        gem_plan.check_toolchain(steps, broken)
    msg = info.value.msg
    assert 'nat-1.0.0.gem' in msg
    assert 'C compiler x86_64-linux-gnu-gcc' in msg and 'make program make' in msg
    assert 'Ruby header /usr/include/ruby-3.1.0/ruby.h missing' in msg


def test_complete_toolchain_passes():
    assert gem_plan.toolchain_problems(TOOLS_OK) == []
    steps = gem_plan.plan_present([art('nat', '1.0.0', native=True)], [])
    assert [(a.filename, a.native) for s in steps for a in s.install] == [('nat-1.0.0.gem', True)]
    assert gem_plan.check_toolchain(steps, TOOLS_OK) is None


def test_converged_native_gem_needs_no_toolchain():
    steps = gem_plan.plan_present([art('nat', '1.0.0', native=True)], [gem('nat', '1.0.0')])
    assert steps == []
    assert gem_plan.check_toolchain(steps, Toolchain('gcc', None, 'make', None, {})) is None
    # Once its extension is found unbuilt, the same gem is rebuilt, and then the missing compiler counts.
    rebuild = gem_plan.plan_present([art('nat', '1.0.0', native=True)], [gem('nat', '1.0.0', missing_extensions=True)])
    with pytest.raises(VerificationError, match='C compiler gcc .*not found'):
        gem_plan.check_toolchain(rebuild, Toolchain('gcc', None, 'make', '/usr/bin/make', {}))


def test_per_gem_report_lists_untouched_gems_as_none():
    installed = [gem('chain_a', '1.0.0'), gem('chain_c', '0.5.0')]
    steps = gem_plan.plan_present(CHAIN, installed)
    report = gem_plan.per_gem_report(CHAIN, installed, steps)
    assert report == [
        {'name': 'chain_a', 'action': 'none', 'before': '1.0.0', 'after': '1.0.0'},
        {'name': 'chain_b', 'action': 'install', 'before': None, 'after': '1.1.0'},
        {'name': 'chain_c', 'action': 'none', 'before': '0.5.0', 'after': '0.5.0'},
    ]


def test_specification_whose_gem_directory_is_gone_is_reinstalled():
    installed = [gem('chain_a', '1.0.0'), gem('chain_b', '1.1.0'),
                 gem('chain_c', '0.5.0')._replace(missing_files=['gems/chain_c-0.5.0'])]
    steps = gem_plan.plan_present(CHAIN, installed)
    assert actions(steps) == [('chain_c', 'reinstall', '0.5.0 (files missing: gems/chain_c-0.5.0)', '0.5.0')]
    assert [a.filename for a in steps[0].install] == ['chain_c-0.5.0.gem'] and steps[0].remove == []
