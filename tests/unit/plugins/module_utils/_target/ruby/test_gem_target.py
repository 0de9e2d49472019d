# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import json
import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target.ruby import gem_target
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import AirgapError, InstallError
from ansible_collections.airgap.packages.plugins.module_utils._common.fsutil import remove_leftovers


def write(path, text='', mode=0o644):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    with open(path, 'w') as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


def executable(path, text='#!/bin/sh\n'):
    return write(path, text, 0o755)


def test_gem_with_absolute_ruby_shebang_runs_under_that_ruby(tmp_path):
    ruby = executable(str(tmp_path / 'opt' / 'ruby3.3'))
    gem = executable(str(tmp_path / 'bin' / 'gem'), '#!%s\nrequire "rubygems"\n' % ruby)
    command = gem_target.locate_gem(gem, '')
    assert command == (gem, ruby, [ruby, gem])


def test_gem_with_env_shebang_prefers_the_ruby_beside_it(tmp_path):
    beside = executable(str(tmp_path / 'rb' / 'bin' / 'ruby'))
    executable(str(tmp_path / 'other' / 'ruby'))
    gem = executable(str(tmp_path / 'rb' / 'bin' / 'gem'), '#!/usr/bin/env ruby\n')
    command = gem_target.locate_gem(gem, str(tmp_path / 'other'))
    assert command.ruby == beside and command.argv == [beside, gem]


def test_gem_found_by_name_in_path(tmp_path):
    ruby = executable(str(tmp_path / 'bin' / 'ruby'))
    gem = executable(str(tmp_path / 'bin' / 'gem'), '#!/usr/bin/env ruby\n')
    assert gem_target.locate_gem('gem', str(tmp_path / 'bin')) == (gem, ruby, [ruby, gem])


def test_shell_wrapper_gem_runs_as_is_and_probes_with_the_ruby_beside_it(tmp_path):
    ruby = executable(str(tmp_path / 'shims' / 'ruby'))
    gem = executable(str(tmp_path / 'shims' / 'gem'), '#!/usr/bin/env bash\nexec real-gem "$@"\n')
    assert gem_target.locate_gem(gem, '') == (gem, ruby, [gem])


def test_missing_gem_executable_says_what_to_do(tmp_path):
    with pytest.raises(AirgapError, match="gem executable 'gem' not found in PATH: install Ruby"):
        gem_target.locate_gem('gem', str(tmp_path))


def test_clean_environment_drops_everything_that_redirects_rubygems():
    env = gem_target.clean_environment({
        'PATH': '/usr/bin', 'GEM_HOME': '/elsewhere', 'GEM_PATH': '/x', 'GEMRC': '/evil', 'RUBYOPT': '-rbundler/setup',
        'RUBYLIB': '/lib', 'BUNDLE_GEMFILE': '/G', 'RUBYGEMS_GEMDEPS': '-', 'DESTDIR': '/d', 'XDG_CONFIG_HOME': '/c',
        'CC': 'clang', 'HOME': '/root'})
    assert env == {'PATH': '/usr/bin', 'CC': 'clang', 'HOME': '/root', 'LC_ALL': 'C.UTF-8', 'LANG': 'C.UTF-8'}


def test_gem_environment_isolates_home_and_config():
    env = gem_target.gem_environment({'PATH': '/usr/bin', 'HOME': '/root', 'GEM_HOME': '/elsewhere'},
                                     '/stage/root', ['/stage/root', '/gems'], '/stage/home', '/stage/gemrc')
    assert env['HOME'] == '/stage/home' and env['GEMRC'] == '/stage/gemrc'
    assert env['GEM_HOME'] == '/stage/root' and env['GEM_PATH'] == '/stage/root:/gems'
    assert env['XDG_CONFIG_HOME'].startswith('/stage/home/')


def test_failed_gem_files_are_read_from_gem_errors():
    err = ('ERROR:  Error installing /c/airgap_native-1.0.0.gem:\n\tERROR: Failed to build gem native extension.\n'
           'ERROR:  Error installing /c/other-2.gem:\n')
    assert gem_target.failed_gem_files(err) == ['/c/airgap_native-1.0.0.gem', '/c/other-2.gem']


def test_stage_install_runs_gem_locally_with_exact_files_and_no_configuration(tmp_path):
    calls = []

    def runner(argv, env, cwd=None):
        calls.append((argv, env, cwd))
        return 0, 'Successfully installed x-1\n', ''

    staging = str(tmp_path / 'stage')
    os.mkdir(staging)
    command = gem_target.GemCommand('/usr/bin/gem', '/usr/bin/ruby', ['/usr/bin/ruby', '/usr/bin/gem'])
    root = gem_target.stage_install(command, {'PATH': '/usr/bin', 'GEM_HOME': '/evil', 'HOME': '/root'}, staging, '/gems',
                                    ['/c/b-1.gem', '/c/a-1.gem'], runner=runner)
    argv, env, cwd = calls[0]
    assert argv[:3] == ['/usr/bin/ruby', '/usr/bin/gem', 'install']
    for flag in ('--norc', '--local', '--clear-sources', '--ignore-dependencies', '--no-user-install', '--no-document'):
        assert flag in argv
    assert argv[argv.index('--install-dir') + 1] == root and argv[-2:] == ['/c/b-1.gem', '/c/a-1.gem']
    assert env['GEM_HOME'] == root and env['GEM_PATH'] == root + ':/gems' and env['HOME'] == cwd
    with open(env['GEMRC']) as handle:
        assert handle.read() == '--- {}\n'


def test_stage_install_failure_names_the_failing_gem_and_hides_pointers_into_removed_staging(tmp_path):
    def runner(argv, env, cwd=None):
        return 1, '', ('ERROR:  Error installing /c/nat-1.gem:\n\tERROR: Failed to build gem native extension.\n'
                       'Gem files will remain installed in /stage/x for inspection.\nResults logged to /stage/y\n')

    staging = str(tmp_path / 'stage')
    os.mkdir(staging)
    command = gem_target.GemCommand('/usr/bin/gem', '/usr/bin/ruby', ['/usr/bin/gem'])
    with pytest.raises(InstallError) as info:
        gem_target.stage_install(command, {}, staging, '/gems', ['/c/nat-1.gem'], runner=runner)
    assert info.value.msg.startswith('gem install failed for /c/nat-1.gem (rc 1); nothing was installed into /gems')
    assert 'remain installed' not in info.value.msg and 'Results logged' not in info.value.msg
    assert info.value.details['failed_files'] == ['/c/nat-1.gem']


def probe_answer(**overrides):
    data = {'ruby': '3.1.2', 'rubygems': '3.3.15', 'local_platform': 'x86_64-linux', 'api_version': '3.1.0', 'engine': 'ruby',
            'gem_dir': '/gems', 'bindir': '/gems/bin', 'platforms': ['ruby', 'x86_64-linux'],
            'fits': {'ruby': True}, 'default_gems': ['json'], 'installed': [], 'unreadable': [], 'cc': 'x86_64-linux-gnu-gcc',
            'make': 'make', 'headers': [['/usr/include/ruby-3.1.0/ruby.h', True]]}
    data.update(overrides)
    return json.dumps(data)


def test_probe_is_one_ruby_run_with_the_install_dir_as_gem_home(tmp_path):
    calls = []
    cc = executable(str(tmp_path / 'x86_64-linux-gnu-gcc'))

    def runner(argv, env, cwd=None):
        calls.append((argv, env))
        return 0, probe_answer(installed=[{'name': 'a', 'version': '1', 'platform': 'ruby', 'full_name': 'a-1', 'extensions': False,
                                           'missing_extensions': False, 'requires': ['b']}]), ''

    command = gem_target.GemCommand('/usr/bin/gem', '/usr/bin/ruby', ['/usr/bin/ruby', '/usr/bin/gem'])
    found = gem_target.probe(command, {'PATH': str(tmp_path), 'GEM_PATH': '/evil'}, '/gems', platforms=['ruby', 'x86_64-linux'], runner=runner)
    assert len(calls) == 1
    argv, env = calls[0]
    assert argv[:2] == ['/usr/bin/ruby', '-e'] and argv[3:] == ['dir', '/gems', 'ruby', 'x86_64-linux']
    assert env['GEM_HOME'] == env['GEM_PATH'] == '/gems'
    assert found.installed[0].full_name == 'a-1' and found.installed[0].requires == ['b']
    assert found.toolchain.compiler_path == cc and found.toolchain.make_path is None
    assert found.platform_fits == {'ruby': True}
    assert found.description == {'executable': '/usr/bin/ruby', 'version': '3.1.2', 'abi_version': '3.1.0', 'engine': 'ruby',
                                 'platform': 'x86_64-linux', 'rubygems_version': '3.3.15', 'key': 'ruby-3.1.0-x86_64-linux'}


def test_probe_failure_reports_ruby_error():
    command = gem_target.GemCommand('/usr/bin/gem', '/usr/bin/ruby', ['/usr/bin/gem'])
    with pytest.raises(AirgapError, match='probing /gems with /usr/bin/ruby failed \\(rc 1\\): boom'):
        gem_target.probe(command, {}, '/gems', runner=lambda argv, env, cwd=None: (1, '', 'boom'))


def tree(root):
    found = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)


def test_merge_moves_a_staged_gem_into_place_beside_existing_ones(tmp_path):
    root, install, bindir, trash = (str(tmp_path / n) for n in ('root', 'install', 'bin', 'trash'))
    os.mkdir(trash)
    write(os.path.join(install, 'gems', 'old-1', 'lib', 'old.rb'))
    write(os.path.join(install, 'specifications', 'old-1.gemspec'))
    write(os.path.join(root, 'gems', 'new-2', 'lib', 'new.rb'))
    write(os.path.join(root, 'extensions', 'x86_64-linux', '3.1.0', 'new-2', 'gem.build_complete'))
    write(os.path.join(root, 'specifications', 'new-2.gemspec'))
    write(os.path.join(root, 'cache', 'new-2.gem'))
    executable(os.path.join(root, 'bin', 'newtool'))
    gem_target.merge_staged(root, install, bindir, trash)
    assert tree(install) == sorted([
        'cache', 'cache/new-2.gem', 'extensions', 'extensions/x86_64-linux', 'extensions/x86_64-linux/3.1.0',
        'extensions/x86_64-linux/3.1.0/new-2', 'extensions/x86_64-linux/3.1.0/new-2/gem.build_complete',
        'gems', 'gems/new-2', 'gems/new-2/lib', 'gems/new-2/lib/new.rb', 'gems/old-1', 'gems/old-1/lib', 'gems/old-1/lib/old.rb',
        'specifications', 'specifications/new-2.gemspec', 'specifications/old-1.gemspec'])
    assert os.listdir(bindir) == ['newtool'] and os.stat(os.path.join(bindir, 'newtool')).st_mode & stat.S_IXUSR


def test_merge_replaces_a_reinstalled_gem_as_a_whole(tmp_path):
    root, install, bindir, trash = (str(tmp_path / n) for n in ('root', 'install', 'bin', 'trash'))
    os.mkdir(trash)
    write(os.path.join(install, 'gems', 'nat-1', 'leftover.o'))
    write(os.path.join(install, 'specifications', 'nat-1.gemspec'), 'old')
    write(os.path.join(root, 'gems', 'nat-1', 'lib', 'nat.so'))
    write(os.path.join(root, 'specifications', 'nat-1.gemspec'), 'new')
    gem_target.merge_staged(root, install, bindir, trash)
    assert tree(os.path.join(install, 'gems')) == ['nat-1', 'nat-1/lib', 'nat-1/lib/nat.so']
    with open(os.path.join(install, 'specifications', 'nat-1.gemspec')) as handle:
        assert handle.read() == 'new'


def test_merge_moves_specifications_last(tmp_path, monkeypatch):
    root, install, bindir, trash = (str(tmp_path / n) for n in ('root', 'install', 'bin', 'trash'))
    os.mkdir(trash)
    write(os.path.join(root, 'specifications', 'a-1.gemspec'))
    write(os.path.join(root, 'gems', 'a-1', 'a.rb'))
    executable(os.path.join(root, 'bin', 'a'))
    write(os.path.join(root, 'doc', 'a-1', 'ri', 'x'))
    order = []
    real = gem_target._move_into_place

    def spy(source, destination, trash_dir):
        order.append(os.path.relpath(source, root))
        real(source, destination, trash_dir)

    monkeypatch.setattr(gem_target, '_move_into_place', spy)
    gem_target.merge_staged(root, install, bindir, trash)
    assert order[-1] == 'specifications/a-1.gemspec'
    assert set(order) == {'doc/a-1', 'gems/a-1', 'bin/a', 'specifications/a-1.gemspec'}


def test_stale_staging_trees_are_removed(tmp_path):
    os.makedirs(str(tmp_path / (gem_target.STAGING_PREFIX + 'abc') / 'root'))
    os.makedirs(str(tmp_path / 'gems'))
    assert remove_leftovers(str(tmp_path), gem_target.STAGING_PREFIX) == [str(tmp_path / (gem_target.STAGING_PREFIX + 'abc'))]
    assert os.listdir(str(tmp_path)) == ['gems']


def test_the_probe_also_describes_this_ruby_as_it_says_of_itself_when_asked_separately():
    ruby = shutil.which('ruby')
    found = gem_target.probe(gem_target.GemCommand(None, ruby, None), dict(os.environ))
    said = subprocess.run([ruby, '-e', 'puts RUBY_VERSION, RbConfig::CONFIG["ruby_version"], Gem::Platform.local.to_s, Gem::VERSION'],
                          stdout=subprocess.PIPE, check=True).stdout.decode().split()
    version, abi_version, gem_platform, rubygems = said
    assert found.description == {'executable': ruby, 'version': version, 'abi_version': abi_version, 'engine': 'ruby',
                                 'platform': gem_platform, 'rubygems_version': rubygems,
                                 'key': 'ruby-%s-%s' % (abi_version, gem_platform)}


# ---- the probe's record: no Ruby run while nothing the answer rests on has changed ----------------------------

def installed_gem(gem_home, name, version='1.0.0', extensions=False):
    """An installed gem as RubyGems leaves it: its specification, a non-empty gem directory and, for a gem with
    extensions, the extension directory with its build marker."""
    extension = "s.extensions = ['ext/extconf.rb']; " if extensions else ''
    write(os.path.join(gem_home, 'specifications', '%s-%s.gemspec' % (name, version)),
          "Gem::Specification.new { |s| s.name = '%s'; s.version = '%s'; s.summary = 'x'; s.authors = ['x']; %s}\n"
          % (name, version, extension))
    write(os.path.join(gem_home, 'gems', '%s-%s' % (name, version), 'lib', '%s.rb' % name))
    if extensions:
        marker = subprocess.run(
            ['ruby', '-e', 'puts Gem::Specification.load(ARGV[0]).gem_build_complete_path',
             os.path.join(gem_home, 'specifications', '%s-%s.gemspec' % (name, version))],
            env=dict(os.environ, GEM_HOME=gem_home, GEM_PATH=gem_home), stdout=subprocess.PIPE, check=True).stdout.decode().strip()
        write(marker)
        return marker
    return None


@pytest.fixture
def recorded_probe(tmp_path, monkeypatch):
    """probe(record=...) against a real ruby and install dir; returns (probe function, runs, gem_home, record dir).
    The margin against late changes is lifted: files made by the test a moment ago may be recorded."""
    monkeypatch.setattr(gem_target, '_PROBE_RECORD_MARGIN_NS', 0)
    gem_home, records = str(tmp_path / 'gems'), str(tmp_path / 'stage')
    os.makedirs(os.path.join(gem_home, 'specifications'))
    os.makedirs(records, 0o700)
    ruby = shutil.which('ruby')
    runs = []

    def runner(argv, env, cwd=None):
        runs.append(argv[0])
        return gem_target.process.run(argv, env, cwd=cwd)

    def probe(check_mode=False, platforms=('ruby',), **environ):
        return gem_target.probe(gem_target.GemCommand(None, ruby, None), dict(os.environ, **environ), gem_home, platforms=platforms,
                                runner=runner, record_dir=records, check_mode=check_mode)
    return probe, runs, gem_home, records


def names_of(found):
    return sorted((g.full_name, g.missing_extensions, tuple(g.missing_files)) for g in found.installed)


def test_a_recorded_probe_answers_again_without_ruby_while_nothing_it_rests_on_changed(recorded_probe):
    probe, runs, gem_home, records = recorded_probe
    installed_gem(gem_home, 'demo')
    first = probe()
    again = probe()
    assert runs == [shutil.which('ruby')]
    assert again == first and names_of(again) == [('demo-1.0.0', False, ())]
    [record] = os.listdir(records)
    assert record.startswith(gem_target.PROBE_RECORD_PREFIX) and stat.S_IMODE(os.stat(os.path.join(records, record)).st_mode) == 0o600


@pytest.mark.parametrize('change', ['gem added', 'gem dir emptied', 'gemspec edited', 'extension marker removed'])
def test_a_change_to_the_install_dir_makes_the_probe_run_ruby_again(recorded_probe, change):
    probe, runs, gem_home, _records = recorded_probe
    installed_gem(gem_home, 'demo')
    marker = installed_gem(gem_home, 'native', extensions=True)
    assert names_of(probe()) == [('demo-1.0.0', False, ()), ('native-1.0.0', False, ())]
    if change == 'gem added':
        installed_gem(gem_home, 'other')
        expected = [('demo-1.0.0', False, ()), ('native-1.0.0', False, ()), ('other-1.0.0', False, ())]
    elif change == 'gem dir emptied':
        shutil.rmtree(os.path.join(gem_home, 'gems', 'demo-1.0.0', 'lib'))
        expected = [('demo-1.0.0', False, ('gems/demo-1.0.0',)), ('native-1.0.0', False, ())]
    elif change == 'gemspec edited':
        spec = os.path.join(gem_home, 'specifications', 'demo-1.0.0.gemspec')
        write(spec, open(spec).read().replace("'1.0.0'", "'1.0.1'"))
        expected = [('demo-1.0.1', False, ('gems/demo-1.0.1',)), ('native-1.0.0', False, ())]
    else:
        os.unlink(marker)
        expected = [('demo-1.0.0', False, ()), ('native-1.0.0', True, ())]
    assert names_of(probe()) == expected
    assert len(runs) == 2


def test_another_question_is_not_answered_from_a_record(recorded_probe):
    probe, runs, _gem_home, _records = recorded_probe
    probe(platforms=('ruby',))
    assert probe(platforms=('ruby', 'x86_64-linux')).platform_fits == {'ruby': True, 'x86_64-linux': True}
    assert len(runs) == 2


def test_a_compiler_named_in_the_environment_is_part_of_the_question(recorded_probe):
    probe, runs, _gem_home, _records = recorded_probe
    assert probe(CC='cc-one').toolchain.compiler == 'cc-one'
    assert probe(CC='cc-two').toolchain.compiler == 'cc-two'
    assert len(runs) == 2


def test_check_mode_reads_a_record_and_writes_none(recorded_probe):
    probe, runs, _gem_home, records = recorded_probe
    probe(check_mode=True)
    assert os.listdir(records) == []
    probe()
    probe(check_mode=True)
    assert len(runs) == 2


@pytest.mark.parametrize('tamper', ['group writable', 'answer forged for another question', 'not json', 'a link', 'a fifo',
                                    'no path to rest on'])
def test_a_record_anyone_else_could_have_written_or_that_answers_another_question_is_ignored(recorded_probe, tmp_path, tamper):
    probe, runs, gem_home, records = recorded_probe
    installed_gem(gem_home, 'demo')
    probe()
    [name] = os.listdir(records)
    path = os.path.join(records, name)
    record = json.load(open(path))
    record['answer']['installed'] = []  # a forger's claim that nothing is installed
    if tamper == 'group writable':
        write(path, json.dumps(record), 0o620)
    elif tamper == 'answer forged for another question':
        record['question'] = '0' * 64
        write(path, json.dumps(record), 0o600)
    elif tamper == 'not json':
        write(path, '{', 0o600)
    elif tamper == 'no path to rest on':
        record['paths'] = {}
        write(path, json.dumps(record), 0o600)
    elif tamper == 'a fifo':  # opening it would wait for a writer for ever
        os.unlink(path)
        os.mkfifo(path, 0o600)
    else:
        elsewhere = write(str(tmp_path / 'elsewhere.json'), json.dumps(record), 0o600)
        os.unlink(path)
        os.symlink(elsewhere, path)
    assert names_of(probe()) == [('demo-1.0.0', False, ())]
    assert len(runs) == 2


def test_an_answer_resting_on_a_path_changed_just_before_the_probe_is_not_recorded(recorded_probe, monkeypatch):
    probe, runs, gem_home, records = recorded_probe
    monkeypatch.setattr(gem_target, '_PROBE_RECORD_MARGIN_NS', 10 ** 9)
    installed_gem(gem_home, 'demo')  # a moment ago: its ctime could hide a change made in the same clock tick
    probe()
    assert os.listdir(records) == []
