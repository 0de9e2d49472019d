# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gem_offline on offline hosts: verify first, strictly offline, all or nothing, truthfully idempotent."""

import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from gem_offline_support import broken_native_gem, build_gem_cache, repack_without_checksums, tool_gem
from hosts import HostFleet
from runner import Ansible

pytestmark = pytest.mark.integration

REMOTE_CACHES = '/var/cache/gemoff-test'
CHAIN = ['airgap_chain_a-1.0.0.gem', 'airgap_chain_b-1.1.0.gem', 'airgap_chain_c-0.5.0.gem']
FULL = CHAIN + ['airgap_native-1.0.0.gem', 'airgap_twover-2.0.0.gem']
FULL_TOPS = ['airgap_chain_a', 'airgap_native', 'airgap_twover']

# A gem program that records each run (argv, the environment gem sees, cwd) and then runs the real gem.
LOGGING_GEM = '''#!/usr/bin/ruby3.1
require 'json'
File.open(%(log)r, 'a') do |f|
  f.puts JSON.generate('argv' => ARGV, 'cwd' => Dir.pwd,
                       'env' => ENV.to_h.select { |k, _| k =~ /\\A(GEM|HOME|RUBY|BUNDLE|XDG)/ })
end
load '/usr/bin/gem'
'''


@pytest.fixture(scope='module')
def gem_files(gem_source, tmp_path_factory):
    """File name -> path of every gem the tests use: the fixture gems plus two built here."""
    work = str(tmp_path_factory.mktemp('gem-offline-gems'))
    files = dict((name, path) for name, path in gem_source.gems.items())
    for path in (broken_native_gem(work), tool_gem(work)):
        files[os.path.basename(path)] = path
    return files


class Caches:
    """Caches built on the controller once, shipped to a host once, each as one tar stream."""

    def __init__(self, root, files):
        self.root = root
        self.files = files
        self.shipped = set()

    def local(self, name, gems, tops, tamper=None):
        path = os.path.join(self.root, name)
        if not os.path.exists(path):
            build_gem_cache(path, [self.files[g] for g in gems], tops)
            if tamper:
                tamper(path)
        return path

    def on(self, fleet, host, name, gems=None, tops=None, tamper=None):
        local = self.local(name, gems or FULL, tops or FULL_TOPS, tamper)
        remote = '%s/%s' % (REMOTE_CACHES, name)
        if (fleet.state_dir, host, name) not in self.shipped:
            fleet.push_dir(host, local, remote)
            self.shipped.add((fleet.state_dir, host, name))
        return remote


@pytest.fixture(scope='module')
def caches(gem_files, tmp_path_factory):
    return Caches(str(tmp_path_factory.mktemp('gem-offline-caches')), gem_files)


@pytest.fixture
def host(offline_hosts):
    return offline_hosts.names[0]


@pytest.fixture
def install_dir(request):
    return '/opt/gemoff/%s' % re.sub(r'[^A-Za-z0-9_]+', '_', request.node.name)


def gem_offline(ansible, host, check=False, diff=False, **args):
    return ansible.module(host, 'airgap.packages.gem_offline', args, check=check, diff=diff)[host]


def sh(fleet, host, *argv):
    done = fleet.run(host, list(argv))
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


def specs(fleet, host, install_dir):
    done = fleet.run(host, ['ls', '%s/specifications' % install_dir])
    return sorted(done.stdout.split()) if done.returncode == 0 else []


def host_gem(fleet, host, install_dir, *args):
    """Run the host's own gem against install_dir, as an administrator would."""
    return sh(fleet, host, 'env', 'GEM_HOME=%s' % install_dir, 'GEM_PATH=%s' % install_dir, 'gem', *args)


def logging_gem(fleet, host, name):
    """Install a gem program that logs its runs; returns (program path, log path)."""
    program, log = '/usr/local/lib/gemoff/%s/gem' % name, '/var/log/gemoff-%s.log' % name
    sh(fleet, host, 'mkdir', '-p', os.path.dirname(program))
    fleet.run(host, ['rm', '-f', log])
    done = subprocess.run(fleet.ssh_argv(host) + ['--', 'cat > %s && chmod 755 %s' % (program, program)],
                          input=LOGGING_GEM % {'log': log}, text=True, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return program, log


def gem_log(fleet, host, log):
    done = fleet.run(host, ['cat', log])
    return [json.loads(line) for line in done.stdout.splitlines()] if done.returncode == 0 else []


def stat_specs(fleet, host, install_dir):
    out = sh(fleet, host, 'stat', '-c', '%n %i %Y', *['%s/specifications/%s' % (install_dir, s) for s in specs(fleet, host, install_dir)])
    return dict((line.split()[0], line.split()[1:]) for line in out.splitlines())


# --- installs, idempotency, check mode, diff ------------------------------------------------------------------------

def test_first_run_installs_every_gem_and_they_load_offline(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    result = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir)
    assert result.get('failed') is not True, result
    assert result['changed'] is True
    assert [(c['name'], c['action'], c['after']) for c in result['changes']] == [
        ('airgap_chain_a', 'install', '1.0.0'), ('airgap_chain_b', 'install', '1.1.0'), ('airgap_chain_c', 'install', '0.5.0'),
        ('airgap_native', 'install', '1.0.0'), ('airgap_twover', 'install', '2.0.0')]
    assert result['gems'] == [dict(c) for c in result['changes']]
    assert sorted(result['verified']) == sorted(FULL)
    assert result['install_dir'] == install_dir and result['bindir'] == install_dir + '/bin'
    out = sh(offline_hosts, host, 'env', 'GEM_PATH=%s' % install_dir, 'ruby', '-e',
             'require "airgap_chain_a"; require "airgap_native"; '
             'puts Gem.loaded_specs.values.map(&:full_name).grep(/airgap/).sort.join(" ")')
    assert out.split() == ['airgap_chain_a-1.0.0', 'airgap_chain_b-1.1.0', 'airgap_chain_c-0.5.0', 'airgap_native-1.0.0']
    assert not [n for n in sh(offline_hosts, host, 'ls', '-A', install_dir).split() if n.startswith('.airgap-staging')]


def test_converged_run_reports_no_change_and_never_runs_gem(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    program, log = logging_gem(offline_hosts, host, 'converged')
    first = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, executable=program)
    assert first['changed'] is True, first
    runs = gem_log(offline_hosts, host, log)
    assert len(runs) == 1 and runs[0]['argv'][0] == 'install'
    before = stat_specs(offline_hosts, host, install_dir)

    second = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, executable=program)
    assert second['changed'] is False and second['changes'] == [], second
    assert [g['action'] for g in second['gems']] == ['none'] * 5
    check = gem_offline(fleet_ansible, host, check=True, diff=True, cache=cache, install_dir=install_dir, executable=program)
    assert check['changed'] is False and check['changes'] == []
    assert len(gem_log(offline_hosts, host, log)) == 1, 'gem ran on a converged install dir'
    assert stat_specs(offline_hosts, host, install_dir) == before


def test_check_mode_returns_the_plan_and_installs_nothing(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    result = gem_offline(fleet_ansible, host, check=True, diff=True, cache=cache, install_dir=install_dir, gems=['airgap_chain_a'])
    assert result['changed'] is True
    assert [(c['name'], c['action']) for c in result['changes']] == [
        ('airgap_chain_a', 'install'), ('airgap_chain_b', 'install'), ('airgap_chain_c', 'install')]
    assert result['diff']['before'] == ''
    assert result['diff']['after'] == 'airgap_chain_a 1.0.0\nairgap_chain_b 1.1.0\nairgap_chain_c 0.5.0\n'
    assert offline_hosts.run(host, ['test', '-e', install_dir]).returncode != 0
    real = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, gems=['airgap_chain_a'])
    assert real['changes'] == result['changes']


def test_uninstalled_gem_is_repaired_touching_only_that_gem(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir)['changed'] is True
    host_gem(offline_hosts, host, install_dir, 'uninstall', '--ignore-dependencies', '--executables', 'airgap_chain_b')
    others = stat_specs(offline_hosts, host, install_dir)

    check = gem_offline(fleet_ansible, host, check=True, diff=True, cache=cache, install_dir=install_dir)
    assert check['changes'] == [{'name': 'airgap_chain_b', 'action': 'install', 'before': None, 'after': '1.1.0'}]
    assert check['diff']['after'] == 'airgap_chain_b 1.1.0\n'
    result = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir)
    assert result['changed'] is True and result['changes'] == check['changes']
    assert [g['name'] for g in result['gems'] if g['action'] != 'none'] == ['airgap_chain_b']
    after = stat_specs(offline_hosts, host, install_dir)
    assert dict((k, v) for k, v in after.items() if k in others) == others, 'a gem other than airgap_chain_b was touched'
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir)['changed'] is False


def test_another_version_installed_beside_the_pinned_one_is_removed(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    extra = caches.on(offline_hosts, host, 'twover1', gems=['airgap_twover-1.0.0.gem'], tops=['airgap_twover'])
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir)['changed'] is True
    host_gem(offline_hosts, host, install_dir, 'install', '--local', '--no-document', extra + '/airgap_twover-1.0.0.gem')

    result = gem_offline(fleet_ansible, host, diff=True, cache=cache, install_dir=install_dir)
    assert result['changes'] == [{'name': 'airgap_twover', 'action': 'prune', 'before': '1.0.0, 2.0.0', 'after': '2.0.0'}]
    assert result['diff'] == {'before': 'airgap_twover 1.0.0, 2.0.0\n', 'after': 'airgap_twover 2.0.0\n',
                              'before_header': install_dir, 'after_header': install_dir}
    assert 'airgap_twover-1.0.0.gemspec' not in specs(offline_hosts, host, install_dir)
    assert 'airgap_twover-2.0.0.gemspec' in specs(offline_hosts, host, install_dir)


def test_other_version_instead_of_the_pinned_one_is_replaced(offline_hosts, fleet_ansible, caches, host, install_dir):
    full = caches.on(offline_hosts, host, 'full')
    older = caches.on(offline_hosts, host, 'twover1', gems=['airgap_twover-1.0.0.gem'], tops=['airgap_twover'])
    assert gem_offline(fleet_ansible, host, cache=full, install_dir=install_dir, gems=['airgap_twover'])['changed'] is True
    result = gem_offline(fleet_ansible, host, cache=older, install_dir=install_dir)
    assert result['changes'] == [{'name': 'airgap_twover', 'action': 'downgrade', 'before': '2.0.0', 'after': '1.0.0'}]
    assert specs(offline_hosts, host, install_dir) == ['airgap_twover-1.0.0.gemspec']
    assert gem_offline(fleet_ansible, host, cache=older, install_dir=install_dir)['changed'] is False


# --- verify first -------------------------------------------------------------------------------------------------

def flip_byte(name):
    def tamper(cache):
        path = os.path.join(cache, name)
        with open(path, 'r+b') as handle:
            handle.seek(600)
            byte = handle.read(1)
            handle.seek(600)
            handle.write(bytes([byte[0] ^ 0x01]))
    return tamper


def truncate(name):
    def tamper(cache):
        path = os.path.join(cache, name)
        os.truncate(path, os.path.getsize(path) - 512)
    return tamper


def repack(name):
    def tamper(cache):
        repack_without_checksums(os.path.join(cache, name))
    return tamper


def delete(name):
    def tamper(cache):
        os.unlink(os.path.join(cache, name))
    return tamper


def drop_from_manifest(gem_name):
    def tamper(cache):
        path = os.path.join(cache, 'manifest.json')
        with open(path) as handle:
            data = json.load(handle)
        dropped = [a['filename'] for a in data['artifacts'] if a['name'] == gem_name]
        data['artifacts'] = [a for a in data['artifacts'] if a['name'] != gem_name]
        for top in data['requirements']:
            top['closure'] = [n for n in top['closure'] if n != gem_name]
        with open(path, 'w') as handle:
            json.dump(data, handle)
        for filename in dropped:
            os.unlink(os.path.join(cache, filename))
    return tamper


@pytest.mark.parametrize('case, tamper, file, expected', [
    ('flipped', flip_byte('airgap_chain_b-1.1.0.gem'), 'airgap_chain_b-1.1.0.gem', r'sha256 [0-9a-f]{64}, expected [0-9a-f]{64}: altered'),
    ('truncated', truncate('airgap_chain_c-0.5.0.gem'), 'airgap_chain_c-0.5.0.gem', r'size \d+, expected \d+ \(sha256 [0-9a-f]{64}\)'),
    ('repacked', repack('airgap_chain_a-1.0.0.gem'), 'airgap_chain_a-1.0.0.gem', r'(sha256 [0-9a-f]{64}, expected|size \d+, expected)'),
    ('deleted', delete('airgap_chain_c-0.5.0.gem'), 'airgap_chain_c-0.5.0.gem', r'missing \(expected \d+ bytes, sha256 [0-9a-f]{64}\)'),
    ('unlisted', drop_from_manifest('airgap_chain_c'), 'airgap_chain_b-1.1.0.gem', r'requires airgap_chain_c, which the cache does not hold'),
])
def test_bad_cache_stops_before_gem_runs_naming_the_file(offline_hosts, fleet_ansible, caches, host, install_dir, case, tamper, file, expected):
    cache = caches.on(offline_hosts, host, 'bad-%s' % case, tamper=tamper)
    program, log = logging_gem(offline_hosts, host, 'verify-%s' % case)
    for check in (True, False):
        result = gem_offline(fleet_ansible, host, check=check, cache=cache, install_dir=install_dir, executable=program)
        assert result.get('failed') is True, result
        assert '%s/%s' % (cache, file) in result['msg'], result['msg']
        assert re.search(expected, result['msg']), result['msg']
        assert 'nothing was installed' in result['msg']
        assert result['problems'][0]['file'] == '%s/%s' % (cache, file)
    assert gem_log(offline_hosts, host, log) == []
    assert offline_hosts.run(host, ['test', '-e', install_dir]).returncode != 0


def test_gem_repacked_without_checksums_would_install_if_not_for_the_manifest(offline_hosts, caches, host, install_dir):
    """Why the sha256 check matters: RubyGems itself installs the repacked gem without a word."""
    cache = caches.on(offline_hosts, host, 'bad-repacked', tamper=repack('airgap_chain_a-1.0.0.gem'))
    out = host_gem(offline_hosts, host, install_dir, 'install', '--local', '--ignore-dependencies', '--no-document',
                   cache + '/airgap_chain_a-1.0.0.gem')
    assert 'Successfully installed airgap_chain_a-1.0.0' in out


# --- strictly offline -----------------------------------------------------------------------------------------------

def test_gemrc_and_gem_variables_of_the_target_cannot_redirect_the_install(offline_hosts, caches, host, install_dir, tmp_path):
    cache = caches.on(offline_hosts, host, 'full')
    program, log = logging_gem(offline_hosts, host, 'offline')
    gateway = offline_hosts.host(host).gateway
    hostile = ':sources:\n- http://%s:9/\ngem: --install-dir /tmp/hijacked-gemrc --user-install --source http://%s:9/\n' \
              'install: --user-install --install-dir /tmp/hijacked-install\n' % (gateway, gateway)
    for path in ('/root/.gemrc', '/tmp/evil-gemrc'):
        done = subprocess.run(offline_hosts.ssh_argv(host) + ['--', 'cat > %s' % path], input=hostile, text=True, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr
    playbook = tmp_path / 'hostile.yml'
    playbook.write_text(
        '- hosts: %s\n  gather_facts: false\n  tasks:\n'
        '    - name: Install gems with a hostile environment\n'
        '      airgap.packages.gem_offline:\n        cache: %s\n        install_dir: %s\n        executable: %s\n'
        '      environment:\n        GEM_HOME: /tmp/hijacked-home\n        GEM_PATH: /tmp/hijacked-path\n'
        '        GEMRC: /tmp/evil-gemrc\n        RUBYOPT: -r/nonexistent/preload\n        BUNDLE_GEMFILE: /nonexistent/Gemfile\n'
        '        GEM_SPEC_CACHE: /tmp/hijacked-specs\n' % (host, cache, install_dir, program))
    try:
        run = Ansible(inventory=offline_hosts.inventory).playbook(str(playbook))
        result = run.results('Install gems with a hostile environment')[host]
        assert run.rc == 0 and result['changed'] is True, run
    finally:
        offline_hosts.run(host, ['rm', '-f', '/root/.gemrc', '/tmp/evil-gemrc'])
    assert len(specs(offline_hosts, host, install_dir)) == 5
    for hijack in ('/tmp/hijacked-gemrc', '/tmp/hijacked-install', '/tmp/hijacked-home', '/tmp/hijacked-path',
                   '/tmp/hijacked-specs', '/root/.local/share/gem', '/root/.gem'):
        assert offline_hosts.run(host, ['test', '-e', hijack]).returncode != 0, '%s was written' % hijack
    (call,) = gem_log(offline_hosts, host, log)
    for flag in ('--local', '--norc', '--clear-sources', '--no-user-install', '--ignore-dependencies'):
        assert flag in call['argv']
    assert not [a for a in call['argv'] if a.startswith('http')]
    env = call['env']
    assert env['GEM_HOME'].startswith(install_dir + '/.airgap-staging-')
    assert env['HOME'].startswith(install_dir + '/.airgap-staging-') and env['GEMRC'] != '/tmp/evil-gemrc'
    assert 'RUBYOPT' not in env and 'BUNDLE_GEMFILE' not in env and 'GEM_SPEC_CACHE' in env
    assert call['cwd'].startswith(install_dir + '/.airgap-staging-')


# --- native extensions ------------------------------------------------------------------------------------------------

def test_failed_native_build_leaves_no_gem_of_the_run_behind(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'broken', gems=CHAIN + ['airgap_broken-1.0.0.gem', 'airgap_twover-2.0.0.gem'],
                      tops=['airgap_chain_a', 'airgap_broken', 'airgap_twover'])
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, gems=['airgap_twover'])['changed'] is True
    before = sh(offline_hosts, host, 'find', install_dir)

    result = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir)
    assert result.get('failed') is True, result
    assert result['msg'].startswith('gem install failed for %s/airgap_broken-1.0.0.gem' % cache), result['msg']
    assert 'nothing was installed into %s' % install_dir in result['msg'] and 'error' in result['msg']
    assert result['failed_files'] == ['%s/airgap_broken-1.0.0.gem' % cache]
    # airgap_chain_* built fine in the same gem run; none of them, and nothing of airgap_broken, is left.
    assert sh(offline_hosts, host, 'find', install_dir) == before
    assert specs(offline_hosts, host, install_dir) == ['airgap_twover-2.0.0.gemspec']


def test_native_gem_whose_extension_was_never_built_is_reinstalled(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, gems=['airgap_native'])['changed'] is True
    marker = sh(offline_hosts, host, 'sh', '-c', 'ls %s/extensions/*/*/airgap_native-1.0.0/gem.build_complete' % install_dir).strip()
    sh(offline_hosts, host, 'rm', marker)
    result = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, gems=['airgap_native'])
    assert result['changes'] == [{'name': 'airgap_native', 'action': 'reinstall', 'before': '1.0.0 (extensions not built)', 'after': '1.0.0'}]
    sh(offline_hosts, host, 'test', '-e', marker)


@pytest.fixture(scope='module')
def toolless_host(tmp_path_factory):
    """A host without the C compiler, make and the Ruby headers."""
    compiler = os.path.realpath(shutil.which('x86_64-linux-gnu-gcc') or shutil.which('gcc'))
    make = os.path.realpath(shutil.which('make'))
    headers = subprocess.run(['ruby', '-rrbconfig', '-e', 'print RbConfig::CONFIG["rubyhdrdir"]'], capture_output=True,
                             text=True, check=True).stdout
    fleet = HostFleet(str(tmp_path_factory.mktemp('gem-offline-toolless')))
    fleet.start(1, hide=[compiler, make, headers])
    yield fleet, dict(compiler=compiler, make=make, headers=headers)
    fleet.stop()


def test_missing_compiler_make_and_headers_are_named_before_gem_runs(toolless_host, caches, install_dir):
    fleet, hidden = toolless_host
    host = fleet.names[0]
    ansible = Ansible(inventory=fleet.inventory)
    cache = caches.on(fleet, host, 'full')
    program, log = logging_gem(fleet, host, 'toolless')
    for check in (True, False):
        result = gem_offline(ansible, host, check=check, cache=cache, install_dir=install_dir, executable=program)
        assert result.get('failed') is True, result
        msg = result['msg']
        assert 'cannot build the native extensions of airgap_native-1.0.0.gem, nothing was installed' in msg
        assert 'C compiler x86_64-linux-gnu-gcc' in msg and 'make program make' in msg
        assert 'Ruby header %s/ruby.h missing' % hidden['headers'] in msg
    assert gem_log(fleet, host, log) == []
    assert fleet.run(host, ['test', '-e', install_dir]).returncode != 0
    # Gems without extensions need no toolchain.
    plain = gem_offline(ansible, host, cache=cache, install_dir=install_dir, gems=['airgap_chain_a'], executable=program)
    assert plain['changed'] is True, plain


# --- sync, absent, bindir, user install, document ---------------------------------------------------------------------

def test_sync_removes_gems_the_manifest_does_not_list_and_their_executables(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    tool = caches.on(offline_hosts, host, 'tool', gems=['airgap_tool-1.0.0.gem'], tops=['airgap_tool'])
    assert gem_offline(fleet_ansible, host, cache=tool, install_dir=install_dir)['changed'] is True
    sh(offline_hosts, host, 'test', '-x', install_dir + '/bin/airgap_tool')
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir)['changed'] is True
    assert 'airgap_tool-1.0.0.gemspec' in specs(offline_hosts, host, install_dir)

    check = gem_offline(fleet_ansible, host, check=True, cache=cache, install_dir=install_dir, sync=True)
    assert check['changes'] == [{'name': 'airgap_tool', 'action': 'remove', 'before': '1.0.0', 'after': None}]
    result = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, sync=True)
    assert result['changes'] == check['changes']
    assert 'airgap_tool-1.0.0.gemspec' not in specs(offline_hosts, host, install_dir)
    assert offline_hosts.run(host, ['test', '-e', install_dir + '/bin/airgap_tool']).returncode != 0
    assert len(specs(offline_hosts, host, install_dir)) == 5
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, sync=True)['changed'] is False


def test_absent_removes_the_selected_gems_and_keeps_what_others_need(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir)['changed'] is True
    result = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, state='absent', gems=['airgap_native'])
    assert result['changes'] == [{'name': 'airgap_native', 'action': 'remove', 'before': '1.0.0', 'after': None}]
    assert sorted(specs(offline_hosts, host, install_dir)) == [
        'airgap_chain_a-1.0.0.gemspec', 'airgap_chain_b-1.1.0.gemspec', 'airgap_chain_c-0.5.0.gemspec', 'airgap_twover-2.0.0.gemspec']
    assert sh(offline_hosts, host, 'sh', '-c', 'ls %s/extensions/*/* || true' % install_dir).strip() == ''
    everything = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, state='absent')
    assert sorted(c['name'] for c in everything['changes']) == ['airgap_chain_a', 'airgap_chain_b', 'airgap_chain_c', 'airgap_twover']
    assert specs(offline_hosts, host, install_dir) == []
    again = gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, state='absent')
    assert again['changed'] is False


def test_executables_go_to_bindir(offline_hosts, fleet_ansible, caches, host, install_dir):
    tool = caches.on(offline_hosts, host, 'tool', gems=['airgap_tool-1.0.0.gem'], tops=['airgap_tool'])
    bindir = install_dir + '-bin'
    result = gem_offline(fleet_ansible, host, cache=tool, install_dir=install_dir, bindir=bindir)
    assert result['changed'] is True and result['bindir'] == bindir
    out = sh(offline_hosts, host, 'env', 'GEM_PATH=%s' % install_dir, bindir + '/airgap_tool')
    assert out.strip() == 'airgap_tool 1.0.0'
    assert offline_hosts.run(host, ['test', '-e', install_dir + '/bin/airgap_tool']).returncode != 0


def test_user_install_uses_the_remote_users_gem_dir(offline_hosts, fleet_ansible, caches, host):
    cache = caches.on(offline_hosts, host, 'twover1', gems=['airgap_twover-1.0.0.gem'], tops=['airgap_twover'])
    user_dir = sh(offline_hosts, host, 'ruby', '-e', 'print Gem.user_dir')
    try:
        result = gem_offline(fleet_ansible, host, cache=cache, user_install=True)
        assert result['changed'] is True and result['install_dir'] == user_dir, result
        assert specs(offline_hosts, host, user_dir) == ['airgap_twover-1.0.0.gemspec']
        assert gem_offline(fleet_ansible, host, cache=cache, user_install=True)['changed'] is False
    finally:
        offline_hosts.run(host, ['rm', '-rf', user_dir])


def test_document_generates_ri_documentation(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'twover1', gems=['airgap_twover-1.0.0.gem'], tops=['airgap_twover'])
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, document=True)['changed'] is True
    sh(offline_hosts, host, 'test', '-d', install_dir + '/doc/airgap_twover-1.0.0/ri')
    other = install_dir + '-nodoc'
    assert gem_offline(fleet_ansible, host, cache=cache, install_dir=other)['changed'] is True
    assert offline_hosts.run(host, ['test', '-e', other + '/doc/airgap_twover-1.0.0']).returncode != 0


# --- one lock per install dir -------------------------------------------------------------------------------------------

def test_concurrent_runs_on_one_install_dir_install_once(offline_hosts, fleet_ansible, caches, host, install_dir):
    cache = caches.on(offline_hosts, host, 'full')
    program, log = logging_gem(offline_hosts, host, 'concurrent')
    results = []

    def one():
        results.append(gem_offline(fleet_ansible, host, cache=cache, install_dir=install_dir, executable=program))

    threads = [threading.Thread(target=one) for dummy in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.get('failed') is not True for r in results), results
    assert sorted(r['changed'] for r in results) == [False, True]
    assert len(gem_log(offline_hosts, host, log)) == 1
    parent, name = install_dir.rsplit('/', 1)
    sh(offline_hosts, host, 'test', '-e', '%s/.%s.airgap-lock' % (parent, name))


# --- with a cache built by gem_cache --------------------------------------------------------------------------------------

def test_cache_built_by_gem_cache_for_the_hosts_key_installs_and_converges(
        offline_hosts, fleet_ansible, ansible, gem_source, tmp_path, host, install_dir):
    facts = fleet_ansible.module(host, 'airgap.packages.platform_facts', {})[host]
    ruby = facts['ansible_facts']['airgap_platform']['ruby']
    built = ansible.module('localhost', 'airgap.packages.gem_cache', {
        'gems': ['airgap_chain_a', 'airgap_native', 'airgap_twover:1.0.0'], 'sources': [gem_source.url], 'platforms': [ruby],
        'dest': str(tmp_path / 'caches')})['localhost']
    assert built.get('failed') is not True, built
    (cache,) = built['caches']
    remote = '%s/gem-cache-%s' % (REMOTE_CACHES, cache['key'])
    offline_hosts.push_dir(host, cache['path'], remote)

    result = gem_offline(fleet_ansible, host, cache=remote, install_dir=install_dir)
    assert result.get('failed') is not True, result
    assert result['environment_key'] == ruby['key']
    assert [(c['name'], c['action'], c['after']) for c in result['changes']] == [
        ('airgap_chain_a', 'install', '1.0.0'), ('airgap_chain_b', 'install', '1.1.0'), ('airgap_chain_c', 'install', '0.5.0'),
        ('airgap_native', 'install', '1.0.0'), ('airgap_twover', 'install', '1.0.0')]
    again = gem_offline(fleet_ansible, host, cache=remote, install_dir=install_dir, gems=['airgap_chain_a'])
    assert again['changed'] is False and [g['name'] for g in again['gems']] == ['airgap_chain_a', 'airgap_chain_b', 'airgap_chain_c']
