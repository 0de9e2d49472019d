# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible_collections.airgap.packages.plugins.module_utils._common.credentials import (
    Redactor, strip_credentials, url_label)

PRIVATE = 'https://ci:s3cr3t-token@gems.example.com/private/'


def test_a_url_keeps_everything_but_its_user_info():
    assert strip_credentials('https://user:secret@idx.example:8443/simple/?x=1') == 'https://idx.example:8443/simple/?x=1'
    assert strip_credentials('https://idx.example/simple/') == 'https://idx.example/simple/'
    assert strip_credentials(None) == ''


def test_messages_name_a_url_by_host_port_and_path_only():
    assert url_label(PRIVATE) == 'gems.example.com/private/'
    assert url_label('https://user:secret@idx.example/simple/') == 'idx.example/simple/'
    assert url_label('http://127.0.0.1:8808/') == '127.0.0.1:8808/'
    assert url_label('file:///srv/gems/') == '/srv/gems/'
    assert url_label('/srv/wheels') == '/srv/wheels'


def test_redaction_removes_user_info_passwords_and_url_schemes():
    redact = Redactor([PRIVATE])
    text = redact('bad response 401 (https://ci:s3cr3t-token@gems.example.com/private/specs.4.8.gz) s3cr3t-token')
    assert 's3cr3t' not in text and 'ci:' not in text and 'https://' not in text
    assert 'gems.example.com/private/specs.4.8.gz' in text
    assert Redactor()('failed GET https://user:secret@idx.example/simple/lib/') == 'failed GET idx.example/simple/lib/'
