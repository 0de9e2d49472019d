# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials kept out of everything the collection writes or says: manifests, results, errors.

Index URLs and gem sources may carry user:password@, and the options that take them are no_log, so
Ansible masks their literal values wherever they appear. A message therefore names a source by its
label (host:port/path, no scheme, no credentials), which stays readable under that masking.
Runs on the controller and on targets: standard library only.
"""

import re

from urllib.parse import urlsplit, urlunsplit

_SCHEME_AND_USER_INFO = re.compile(r'\b[a-z][a-z0-9+.-]*://(?:[^/@\s]+@)?', re.IGNORECASE)


def strip_credentials(url):
    """The URL without user:password@, safe for manifests, results and errors."""
    if not url or '@' not in url:
        return url or ''
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ''
    if parts.port:
        host = '%s:%d' % (host, parts.port)
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def url_label(url):
    """How a message names a URL: host:port/path (a file: URL by its path), never scheme or credentials."""
    parts = urlsplit(strip_credentials(str(url)))
    if parts.scheme == 'file':
        return parts.path or str(url)
    if not parts.scheme:
        return str(url)
    host = parts.hostname or ''
    if parts.port:
        host = '%s:%d' % (host, parts.port)
    return '%s%s' % (host, parts.path or '/')


class Redactor:
    """Removes every credential of the given URLs from text that a tool or a server wrote."""

    def __init__(self, urls=()):
        self.secrets = []
        for url in urls:
            parts = urlsplit(str(url))
            if parts.password:
                self.secrets.append(parts.password)
            if parts.username:
                self.secrets.append(parts.username + '@')
        self.secrets.sort(key=len, reverse=True)

    def __call__(self, text):
        text = '' if text is None else str(text)
        # URLs lose their scheme and user info, as url_label names them.
        text = _SCHEME_AND_USER_INFO.sub('', text)
        for secret in self.secrets:
            if len(secret) >= 3:
                text = text.replace(secret, '********')
        return text
