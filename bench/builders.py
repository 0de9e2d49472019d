# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sdist-only packages on a mixed fleet: the role with a builder per key, against the manual way.

    .venv/bin/python bench/builders.py [--repeat 1]

Needs root (offline hosts) and PyPI. Each round starts fresh offline hosts of bullseye (Python 3.9),
bookworm (3.11) and trixie (3.13), each the builder of its own key, and measures side by side:

role     playbooks/site.yml with offline_install_builders, from empty caches to installed: netifaces
         0.11.0 (an sdist for 3.11 and 3.13), the fixture airgap-fixture-scmnative (an sdist only, built
         with setuptools_scm) and six; then the same run again (converged).
wheels   the converged run of the same hosts on a cache without sdist-only packages (six, PyYAML,
         MarkupSafe): what a converged run costs without builders.
manual   what a user does by hand, per release: `pip download` of the sdists and of the build
         dependencies for that Python on the controller, a copy to a host of that release, `pip wheel
         --no-index --find-links` there in a venv, then `pip install --no-index` into a venv; the three
         releases one after another, as a user works through them.

Prints a Markdown table of medians over the rounds.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib
import scale
from hosts import HostFleet
from rootfs import debian_root
from sources import FIXTURES, PythonIndex

SITE = os.path.join(benchlib.REPO, 'playbooks', 'site.yml')
SUITES = {'bullseye': '3.9', 'bookworm': '3.11', 'trixie': '3.13'}
REQUIREMENTS = ['netifaces==0.11.0', 'airgap-fixture-scmnative==1.4.0', 'six==1.17.0']
WHEELS_ONLY = ['six==1.17.0', 'PyYAML==6.0.2', 'MarkupSafe==3.0.2']
# The build dependencies a user has to know to download (pip download evaluates markers for the Python
# that runs it, not for --python-version: tomli and typing_extensions must be named for 3.9).
BUILD_DEPENDENCIES = {'3.9': ['setuptools', 'setuptools_scm', 'wheel', 'tomli', 'typing_extensions'],
                      '3.11': ['setuptools', 'setuptools_scm', 'wheel'], '3.13': ['setuptools', 'setuptools_scm', 'wheel']}
PROBE = 'import netifaces, six, airgap_fixture_scmnative as m; assert m.add(2, 3) == 5'


class GroupedFleet:
    """What scale.run_measured needs of a fleet: its inventory, here the one with a group per release."""

    def __init__(self, fleet):
        self.inventory = fleet.grouped_inventory(SUITES)


def role_runs(fleet, index, workdir):
    grouped = GroupedFleet(fleet)
    common = {'offline_install_extra_index_urls': [index.url], 'offline_install_summary': False,
              'offline_install_builders': dict((suite, fleet.named(suite)) for suite in SUITES)}
    built = dict(common, offline_install_python=[{'venv': '/opt/bench/built', 'requirements': REQUIREMENTS}],
                 offline_install_cache_dir=os.path.join(workdir, 'built'), offline_install_stage_dir='/var/cache/bench-built')
    wheels = dict(common, offline_install_python=[{'venv': '/opt/bench/wheels', 'requirements': WHEELS_ONLY}],
                  offline_install_cache_dir=os.path.join(workdir, 'wheels'), offline_install_stage_dir='/var/cache/bench-wheels')
    figures = {}
    figures['role first run'] = scale.run_measured(grouped, SITE, built, len(SUITES))[1]
    figures['role converged, with builders'] = scale.run_measured(grouped, SITE, built, len(SUITES))[1]
    scale.run_measured(grouped, SITE, wheels, len(SUITES))
    figures['role converged, wheels only'] = scale.run_measured(grouped, SITE, wheels, len(SUITES))[1]
    for suite in SUITES:
        check(fleet, fleet.named(suite), '/opt/bench/built')
    return figures


def pip(*args):
    argv = [sys.executable, '-m', 'pip', '--isolated', '--disable-pip-version-check', '-q'] + list(args)
    subprocess.run(argv, check=True, capture_output=True, env=dict(os.environ, PIP_CONFIG_FILE=os.devnull))


def manual(fleet, index, workdir):
    started = time.monotonic()
    for suite, version in SUITES.items():
        files = os.path.join(workdir, 'manual-%s' % suite)
        pip('download', '--no-deps', '--no-binary', ':all:', '-d', files, '--extra-index-url', index.url,
            'netifaces==0.11.0', 'airgap-fixture-scmnative==1.4.0')
        pip('download', '--only-binary', ':all:', '--python-version', version, '--platform', 'manylinux2014_x86_64',
            '--implementation', 'cp', '-d', files, 'six==1.17.0', *BUILD_DEPENDENCIES[version])
        host = fleet.named(suite)
        fleet.push_dir(host, files, '/root/manual')
        # Bullseye's pip 20.3 builds a project without pyproject.toml with setup.py bdist_wheel: wheel must be there.
        script = ('set -e; python3 -m venv /opt/manual-build; '
                  '/opt/manual-build/bin/pip install -q --no-index --find-links /root/manual wheel; '
                  '/opt/manual-build/bin/pip wheel -q --no-index --find-links /root/manual -w /root/manual-wheels '
                  'netifaces==0.11.0 airgap-fixture-scmnative==1.4.0; python3 -m venv /opt/manual; '
                  '/opt/manual/bin/pip install -q --no-index --find-links /root/manual-wheels --find-links /root/manual '
                  'netifaces==0.11.0 airgap-fixture-scmnative==1.4.0 six==1.17.0')
        done = fleet.run(host, ['sh', '-c', script], timeout=900)
        if done.returncode != 0:
            raise SystemExit('the manual way failed on %s: %s' % (host, done.stderr[-2000:]))
        check(fleet, host, '/opt/manual')
    return {'manual, three releases': time.monotonic() - started}


def check(fleet, host, venv):
    done = fleet.run(host, [venv + '/bin/python', '-c', PROBE])
    if done.returncode != 0:
        raise SystemExit('%s on %s does not import: %s' % (venv, host, done.stderr[-2000:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--repeat', type=int, default=1)
    options = parser.parse_args()
    rounds = []
    workroot = tempfile.mkdtemp(prefix='bench-builders-', dir='/var/tmp')
    index = PythonIndex(os.path.join(workroot, 'index'), fixtures=os.path.join(FIXTURES, 'python-builds')).build().start()
    try:
        for number in range(options.repeat):
            workdir = tempfile.mkdtemp(prefix='round-', dir=workroot)
            fleet = HostFleet(os.path.join(workdir, 'hosts'))
            try:
                for suite in SUITES:
                    fleet.start(1, lower=debian_root(suite), name_prefix=suite)
                figures = manual(fleet, index, workdir)
                figures.update(role_runs(fleet, index, workdir))
            finally:
                fleet.stop()
            rounds.append(figures)
            print('round %d: %s' % (number + 1, json.dumps(figures)), file=sys.stderr)
    finally:
        index.stop()
        shutil.rmtree(workroot, ignore_errors=True)
    medians = dict((name, statistics.median(r[name] for r in rounds)) for name in rounds[0])
    manual_seconds = medians['manual, three releases']
    print('| run (3 offline hosts: bullseye, bookworm, trixie) | wall s | against the manual way |')
    print('|---|---|---|')
    for name, seconds in medians.items():
        print('| %s | %.1f | %s |' % (name, seconds, '%.2fx' % (manual_seconds / seconds) if name == 'role first run' else ''))
    print('\nconverged with builders against converged with wheels only: %.2fx'
          % (medians['role converged, with builders'] / medians['role converged, wheels only']))


if __name__ == '__main__':
    main()
