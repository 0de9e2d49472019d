# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gem files checked before gem sees them: a gem whose specification is another gem's, or whose payload
leaves its directory, is refused naming the file and the member."""

import gzip
import io
import shutil
import tarfile

import pytest

from ansible_collections.airgap.packages.plugins.module_utils._target.ruby import gem_check
from ansible_collections.airgap.packages.plugins.module_utils._common.errors import VerificationError

SPEC = '''--- !ruby/object:Gem::Specification
name: %(name)s
version: !ruby/object:Gem::Version
  version: %(version)s
platform: %(platform)s
authors:
- tests
dependencies:
- !ruby/object:Gem::Dependency
  name: rack
  requirement: !ruby/object:Gem::Requirement
    requirements:
    - - ">="
      - !ruby/object:Gem::Version
        version: '2.0'
  type: :runtime
'''


def entry(name, kind=tarfile.REGTYPE, data=b'', link=''):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def gem_file(tmp_path, filename='demo-1.0.0.gem', name='demo', version='1.0.0', platform='ruby', payload=None,
             outer=('metadata.gz', 'data.tar.gz')):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode='w:gz') as archive:
        for info, content in payload or [entry('lib/demo.rb', data=b'module Demo; end\n')]:
            archive.addfile(info, io.BytesIO(content) if info.isfile() else None)
    parts = {'metadata.gz': gzip.compress((SPEC % dict(name=name, version=version, platform=platform)).encode()),
             'data.tar.gz': data.getvalue(), 'checksums.yaml.gz': gzip.compress(b'--- {}\n')}
    path = tmp_path / filename
    with tarfile.open(str(path), 'w') as archive:
        for member in outer:
            info = tarfile.TarInfo(member)
            info.size = len(parts[member])
            archive.addfile(info, io.BytesIO(parts[member]))
    return str(path)


def refused(path, name='demo', version='1.0.0', platform='ruby'):
    with pytest.raises(VerificationError) as caught:
        gem_check.check_gem(path, name, version, platform)
    return caught.value.msg


def test_a_sound_gem_passes(tmp_path):
    assert gem_check.check_gem(gem_file(tmp_path), 'demo', '1.0.0', 'ruby') is None
    binary = gem_file(tmp_path, 'demo-1.0.0-x86_64-linux.gem', platform='x86_64-linux')
    assert gem_check.check_gem(binary, 'demo', '1.0.0', 'x86_64-linux') is None
    # The platform was read from the specification: the binary gem renamed as the source gem is refused.
    source_named = str(tmp_path / 'demo-1.0.0.gem')
    shutil.copyfile(binary, source_named)
    assert 'member metadata.gz is the specification of demo 1.0.0 (platform x86_64-linux)' in refused(source_named)


def test_the_identity_is_read_from_the_top_level_keys_of_the_specification():
    assert gem_check.gem_identity(SPEC % dict(name='demo', version='1.0.0', platform='ruby')) == ('demo', '1.0.0', 'ruby')
    assert gem_check.gem_identity('name: "quoted"\nversion: 2.0\n') == ('quoted', '2.0', 'ruby')


@pytest.mark.parametrize('name, version, platform', [('airgap_impostor', '1.0.0', 'ruby'), ('demo', '6.6.6', 'ruby'),
                                                     ('demo', '1.0.0', 'x86_64-linux')])
def test_a_gem_whose_specification_is_another_gem_is_refused(tmp_path, name, version, platform):
    message = refused(gem_file(tmp_path, name=name, version=version, platform=platform))
    assert 'demo-1.0.0.gem: member metadata.gz is the specification of %s %s (platform %s)' % (name, version, platform) in message


def test_a_file_not_named_as_the_manifest_pins_it_is_refused(tmp_path):
    assert 'is not named as the manifest pins it (demo-1.0.1.gem)' in refused(gem_file(tmp_path), version='1.0.1')


@pytest.mark.parametrize('member, problem', [
    (entry('../../etc/cron.d/demo', data=b'x'), 'climbs out of the gem directory'),
    (entry('/etc/cron.d/demo', data=b'x'), 'is an absolute path'),
    (entry('lib/escape', tarfile.SYMTYPE, link='../../../../etc/passwd'), 'is a symbolic link out of the gem directory'),
    (entry('lib/abs', tarfile.SYMTYPE, link='/etc/passwd'), 'is a symbolic link out of the gem directory'),
    (entry('lib/hard', tarfile.LNKTYPE, link='lib/demo.rb'), 'is a hard link'),
    (entry('lib/tty', tarfile.CHRTYPE), 'is a device file'),
    (entry('lib/disk', tarfile.BLKTYPE), 'is a device file'),
    (entry('lib/pipe', tarfile.FIFOTYPE), 'is a named pipe'),
])
def test_a_payload_member_that_leaves_the_gem_or_is_no_file_is_refused(tmp_path, member, problem):
    path = gem_file(tmp_path, payload=[entry('lib/demo.rb', data=b'x'), member])
    assert 'demo-1.0.0.gem: member data.tar.gz:%s %s' % (member[0].name, problem) in refused(path)


def test_a_link_inside_the_gem_is_fine(tmp_path):
    path = gem_file(tmp_path, payload=[entry('lib/demo.rb', data=b'x'), entry('lib/alias.rb', tarfile.SYMTYPE, link='demo.rb'),
                                       entry('lib/sub/up.rb', tarfile.SYMTYPE, link='../demo.rb')])
    assert gem_check.check_gem(path, 'demo', '1.0.0', 'ruby') is None
    # One level further up leaves the gem directory.
    outside = gem_file(tmp_path, payload=[entry('lib/demo.rb', data=b'x'), entry('lib/up.rb', tarfile.SYMTYPE, link='../../demo.rb')])
    assert 'member data.tar.gz:lib/up.rb is a symbolic link out of the gem directory (to ../../demo.rb)' in refused(outside)


def test_what_is_not_a_gem_is_refused(tmp_path):
    assert 'it holds no data.tar.gz' in refused(gem_file(tmp_path, outer=('metadata.gz',)))
    (tmp_path / 'demo-1.0.0.gem').write_bytes(gzip.compress(b'a .tar.gz renamed .gem'))
    assert 'is a gzip-compressed file, not a gem' in refused(str(tmp_path / 'demo-1.0.0.gem'))
    (tmp_path / 'demo-1.0.0.gem').write_bytes(b'<html>404</html>')
    assert 'not a tar archive' in refused(str(tmp_path / 'demo-1.0.0.gem'))
