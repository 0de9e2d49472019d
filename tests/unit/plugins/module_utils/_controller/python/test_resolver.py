# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import os

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._common import platform_info

from ansible_collections.airgap.packages.plugins.module_utils._controller.python import resolver
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import ResolutionError
from ansible_collections.airgap.packages.plugins.module_utils._controller.python.index_client import (
    IndexClient, parse_html_page, parse_json_page)

from sources import make_wheel

CP39_ARM = platform_info.complete_python_description(
    {'version': '3.9.2', 'arch': 'aarch64', 'libc': {'flavor': 'glibc', 'version': '2.31'}})
CP313_X86 = platform_info.complete_python_description(
    {'version': '3.13.1', 'arch': 'x86_64', 'libc': {'flavor': 'glibc', 'version': '2.36'}})


class NoBuilds:
    def build(self, name, version, sdist_path, target):
        raise AssertionError('no sdist build expected for %s' % name)


def resolve(tmp_path, requirements, description=None, **kwargs):
    client = IndexClient([], find_links=[str(tmp_path / 'wheels')])
    scratch = tmp_path / 'scratch'
    scratch.mkdir(exist_ok=True)
    target = resolver.Target(description or CP39_ARM)
    return resolver.resolve(target, [(r, 'test') for r in requirements], client, str(scratch), kwargs.pop('builder', NoBuilds()),
                            **kwargs)


def pinned(resolution):
    return dict((name, str(c.version)) for name, c in resolution.pins.items())


def test_markers_are_evaluated_for_the_target_not_the_controller(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'app', '1.0', requires=[
        'backport; python_version < "3.10"', 'winonly; sys_platform == "win32"', 'armonly; platform_machine == "aarch64"'])
    make_wheel(wheels, 'backport', '2.0')
    make_wheel(wheels, 'armonly', '1.0')
    old = resolve(tmp_path, ['app'], CP39_ARM)
    assert pinned(old) == {'app': '1.0', 'backport': '2.0', 'armonly': '1.0'}
    new = resolve(tmp_path, ['app'], CP313_X86)
    assert pinned(new) == {'app': '1.0'}


def test_closure_of_each_top_level_requirement_is_recorded(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'top', '1.0', requires=['mid>=1'])
    make_wheel(wheels, 'mid', '1.0', requires=['base'])
    make_wheel(wheels, 'base', '1.0')
    make_wheel(wheels, 'alone', '1.0')
    resolution = resolve(tmp_path, ['top', 'alone'])
    assert [(text, name, sorted(closure)) for text, name, closure in resolution.toplevel] == [
        ('top', 'top', ['base', 'mid', 'top']), ('alone', 'alone', ['alone'])]
    assert resolution.pins['mid'].requires == ['base']


def test_the_best_ranked_wheel_for_the_target_is_chosen(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'fast', '1.0', tags='py3-none-any')
    make_wheel(wheels, 'fast', '1.0', tags='cp39-cp39-manylinux_2_17_aarch64')
    make_wheel(wheels, 'fast', '1.0', tags='cp39-cp39-manylinux_2_17_x86_64')
    assert resolve(tmp_path, ['fast']).pins['fast'].filename == 'fast-1.0-cp39-cp39-manylinux_2_17_aarch64.whl'
    assert resolve(tmp_path, ['fast'], CP313_X86).pins['fast'].filename == 'fast-1.0-py3-none-any.whl'


def test_newest_version_with_a_fitting_wheel_wins_over_a_newer_one_without(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'lib', '1.0', tags='cp39-abi3-manylinux_2_17_aarch64')
    make_wheel(wheels, 'lib', '2.0', tags='cp39-abi3-manylinux_2_34_aarch64')  # needs glibc 2.34, target has 2.31
    assert pinned(resolve(tmp_path, ['lib'])) == {'lib': '1.0'}


def test_the_version_already_cached_is_kept_unless_refreshing(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'lib', '1.0')
    make_wheel(wheels, 'lib', '1.1')
    assert pinned(resolve(tmp_path, ['lib'], preferred={'lib': '1.0'})) == {'lib': '1.0'}
    assert pinned(resolve(tmp_path, ['lib'])) == {'lib': '1.1'}


def test_requires_python_from_metadata_makes_the_resolver_pick_an_older_version(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'lib', '1.0', requires_python='>=3.8')
    make_wheel(wheels, 'lib', '2.0', requires_python='>=3.10')
    assert pinned(resolve(tmp_path, ['lib'])) == {'lib': '1.0'}
    assert pinned(resolve(tmp_path, ['lib'], CP313_X86)) == {'lib': '2.0'}


def test_extras_pull_in_their_dependencies_and_pin_the_base_version(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'web', '1.0', extras=['socks'], requires=['socksy; extra == "socks"'])
    make_wheel(wheels, 'socksy', '1.0')
    resolution = resolve(tmp_path, ['web[socks]'])
    assert pinned(resolution) == {'web': '1.0', 'socksy': '1.0'}
    assert sorted(resolution.toplevel[0][2]) == ['socksy', 'web']
    assert pinned(resolve(tmp_path, ['web'])) == {'web': '1.0'}


def test_constraints_restrict_versions_without_adding_requirements(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'lib', '1.0')
    make_wheel(wheels, 'lib', '2.0')
    make_wheel(wheels, 'other', '1.0')
    constraints = {'lib': [resolver.parse_requirement('lib<2')], 'other': [resolver.parse_requirement('other==1.0')]}
    assert pinned(resolve(tmp_path, ['lib'], constraints=constraints)) == {'lib': '1.0'}


def test_prereleases_are_skipped_unless_asked_for(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'lib', '1.0')
    make_wheel(wheels, 'lib', '2.0rc1')
    assert pinned(resolve(tmp_path, ['lib'])) == {'lib': '1.0'}
    assert pinned(resolve(tmp_path, ['lib>=2.0rc1'])) == {'lib': '2.0rc1'}


def test_a_version_that_does_not_exist_is_named_with_the_versions_that_do(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'lib', '1.0')
    make_wheel(wheels, 'lib', '1.1')
    with pytest.raises(ResolutionError) as failure:
        resolve(tmp_path, ['lib==9.9'])
    assert 'lib==9.9 (requested): no matching version' in failure.value.msg
    assert '1.0, 1.1' in failure.value.msg


def test_an_unknown_project_is_named(tmp_path):
    make_wheel(str(tmp_path / 'wheels'), 'lib', '1.0', requires=['ghost>=1'])
    with pytest.raises(ResolutionError, match='no project named ghost .*required by lib 1.0'):
        resolve(tmp_path, ['lib'])


def test_invalid_requirement_string_is_named():
    with pytest.raises(ResolutionError, match="invalid requirement 'lib >>> 1' in requirements"):
        resolver.parse_requirement('lib >>> 1', 'requirements')


def test_direct_url_requirements_are_refused():
    with pytest.raises(ResolutionError, match='direct URL'):
        resolver.parse_requirement('lib @ https://example.invalid/lib-1.0.tar.gz')


def test_a_project_without_a_fitting_wheel_is_reported_with_its_dependencies_still_resolved(tmp_path):
    wheels = str(tmp_path / 'wheels')
    make_wheel(wheels, 'native', '1.0', tags='cp311-cp311-manylinux_2_17_x86_64', requires=['helper'])
    make_wheel(wheels, 'helper', '1.0', tags='cp311-cp311-win_amd64')
    resolution = resolve(tmp_path, ['native'])
    assert sorted(c.name for c in resolution.missing) == ['helper', 'native']


def test_an_sdist_only_project_is_built_and_a_pure_result_fits_any_platform(tmp_path):
    wheels = str(tmp_path / 'wheels')
    os.makedirs(wheels)
    (tmp_path / 'wheels' / 'plain-1.0.tar.gz').write_bytes(b'sdist')
    built_dir = str(tmp_path / 'built')

    class Builder:
        calls = []

        def build(self, name, version, sdist_path, target):
            self.calls.append(name)
            return make_wheel(built_dir, 'plain', '1.0')

    builder = Builder()
    resolution = resolve(tmp_path, ['plain'], builder=builder)
    plain = resolution.pins['plain']
    assert plain.built and plain.filename == 'plain-1.0-py3-none-any.whl' and not resolution.missing
    assert builder.calls == ['plain']


def test_an_sdist_that_builds_to_a_foreign_wheel_is_reported_as_missing(tmp_path):
    wheels = str(tmp_path / 'wheels')
    os.makedirs(wheels)
    (tmp_path / 'wheels' / 'ext-1.0.tar.gz').write_bytes(b'sdist')

    class Builder:
        def build(self, name, version, sdist_path, target):
            return make_wheel(str(tmp_path / 'built'), 'ext', '1.0', tags='cp311-cp311-linux_x86_64')

    resolution = resolve(tmp_path, ['ext'], builder=Builder())
    assert [c.name for c in resolution.missing] == ['ext']
    assert 'cp311-cp311-linux_x86_64' in resolution.missing[0].problem
    assert 'a host of this key must build it' in resolution.missing[0].problem


def test_requirements_excluded_by_their_markers_are_skipped(tmp_path):
    make_wheel(str(tmp_path / 'wheels'), 'lib', '1.0')
    resolution = resolve(tmp_path, ['lib', 'pywin32; sys_platform == "win32"'])
    assert resolution.skipped == ['pywin32; sys_platform == "win32"']
    assert pinned(resolution) == {'lib': '1.0'}


# ---------------------------------------------------------------- index pages

def test_html_page_gives_hashes_requires_python_yanked_and_metadata():
    page = ('<a href="../../f/lib-1.0-py3-none-any.whl#sha256=' + 'a' * 64 + '" data-requires-python="&gt;=3.8" '
            'data-core-metadata="sha256=' + 'b' * 64 + '">x</a>'
            '<a href="https://cdn.example/lib-0.9.tar.gz" data-yanked="">y</a><a href="../other/">not a file</a>')
    files = parse_html_page(page, 'https://idx.example/simple/lib/', 'https://u:p@idx.example/simple/')
    assert [f.filename for f in files] == ['lib-1.0-py3-none-any.whl', 'lib-0.9.tar.gz']
    wheel, sdist = files
    assert wheel.url == 'https://idx.example/f/lib-1.0-py3-none-any.whl'
    assert wheel.sha256 == 'a' * 64 and wheel.requires_python == '>=3.8'
    assert wheel.metadata_url == 'https://idx.example/f/lib-1.0-py3-none-any.whl.metadata'
    assert sdist.yanked and not wheel.yanked
    assert wheel.source == 'https://idx.example/simple/'


def test_json_page_is_read_like_pep_691_describes():
    data = {'files': [{'filename': 'lib-1.0-py3-none-any.whl', 'url': '/files/lib-1.0-py3-none-any.whl',
                       'hashes': {'sha256': 'c' * 64}, 'requires-python': '>=3.9', 'yanked': 'broken',
                       'core-metadata': {'sha256': 'd' * 64}, 'size': 10}]}
    (wheel,) = parse_json_page(data, 'https://idx.example/simple/lib/', 'https://idx.example/simple/')
    assert wheel.url == 'https://idx.example/files/lib-1.0-py3-none-any.whl'
    assert (wheel.sha256, wheel.requires_python, wheel.yanked, wheel.size) == ('c' * 64, '>=3.9', True, 10)
    assert wheel.metadata_url.endswith('.whl.metadata')


def test_a_download_with_the_wrong_sha256_fails_and_leaves_no_file(tmp_path):
    path = make_wheel(str(tmp_path / 'src'), 'lib', '1.0')
    from ansible_collections.airgap.packages.plugins.module_utils._controller.python.index_client import DistFile
    dist = DistFile('lib-1.0-py3-none-any.whl', 'file://' + path, 'file:///idx/', sha256='0' * 64)
    out = tmp_path / 'out'
    out.mkdir()
    with pytest.raises(ResolutionError, match='lib-1.0-py3-none-any.whl from /idx/ has sha256'):
        IndexClient([]).fetch(dist, str(out))
    assert os.listdir(str(out)) == []
