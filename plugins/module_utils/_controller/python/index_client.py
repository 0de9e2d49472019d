# -*- coding: utf-8 -*-
# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for Python package indexes (PEP 503 HTML, PEP 691 JSON, PEP 658 metadata).

Runs on the controller: standard library only. Credentials in index URLs are sent only to the
index's own host, as HTTP basic auth, and never appear in what this module returns or raises.
"""

import base64
import errno
import hashlib
import json
import os
import re
import socket
import tempfile
from html.parser import HTMLParser
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.request import url2pathname

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

from ..._common.credentials import strip_credentials, url_label
from ..._common.errors import AirgapError, ResolutionError
from ..._common.scripts.interpreter_probe import normalise_name

PYPI_SIMPLE = 'https://pypi.org/simple/'
_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1'
_CHUNK = 1024 * 1024
_ARCHIVE_RE = re.compile(r'\.(whl|tar\.gz|zip)$', re.IGNORECASE)


class DistFile:
    """One file an index offers for a project."""

    def __init__(self, filename, url, index, sha256=None, requires_python=None, yanked=False, metadata_url=None, size=None):
        self.filename = filename
        self.url = url
        self.index = index  # index URL as given (may hold credentials): where auth comes from
        self.sha256 = sha256
        self.requires_python = requires_python
        self.yanked = yanked
        self.metadata_url = metadata_url
        self.size = size

    @property
    def is_wheel(self):
        return self.filename.lower().endswith('.whl')

    @property
    def source(self):
        return strip_credentials(self.index)

    def __repr__(self):
        return 'DistFile(%s)' % self.filename


class _LinkParser(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.links = []
        self.base = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'base' and attrs.get('href'):
            self.base = attrs['href']
        if tag == 'a' and attrs.get('href'):
            self.links.append(attrs)


def parse_html_page(text, page_url, index):
    """DistFiles of a PEP 503 project page."""
    parser = _LinkParser()
    parser.feed(text)
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files = []
    for attrs in parser.links:
        url = urljoin(base, attrs['href'])
        parts = urlsplit(url)
        filename = unquote(parts.path.rsplit('/', 1)[-1])
        if not _ARCHIVE_RE.search(filename):
            continue
        sha256 = None
        match = re.search(r'sha256=([0-9a-fA-F]{64})', parts.fragment or '')
        if match:
            sha256 = match.group(1).lower()
        metadata = attrs.get('data-core-metadata') or attrs.get('data-dist-info-metadata')
        metadata_url = None
        if metadata and metadata != 'false':
            metadata_url = urlunsplit((parts.scheme, parts.netloc, parts.path + '.metadata', '', ''))
        yanked = 'data-yanked' in attrs
        files.append(DistFile(filename, urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, '')), index,
                              sha256=sha256, requires_python=attrs.get('data-requires-python') or None, yanked=yanked,
                              metadata_url=metadata_url))
    return files


def parse_json_page(data, page_url, index):
    """DistFiles of a PEP 691 project page."""
    files = []
    for entry in data.get('files', []):
        url = urljoin(page_url, entry['url'])
        metadata = entry.get('core-metadata', entry.get('dist-info-metadata', False))
        parts = urlsplit(url)
        files.append(DistFile(
            entry['filename'], urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, '')), index,
            sha256=(entry.get('hashes') or {}).get('sha256'), requires_python=entry.get('requires-python') or None,
            yanked=bool(entry.get('yanked')), metadata_url=(urlunsplit((parts.scheme, parts.netloc, parts.path + '.metadata', '', ''))
                                                            if metadata else None),
            size=entry.get('size')))
    return files


class IndexClient:
    """Reads project pages from several indexes and local find-links directories, fetches files."""

    def __init__(self, index_urls, find_links=(), timeout=60):
        self.index_urls = [url if url.endswith('/') else url + '/' for url in index_urls]
        self.find_links = list(find_links)
        self.timeout = timeout
        self._pages = {}
        self._fetched = {}
        self.requests = 0

    # -- HTTP

    def _request(self, url, index, accept=None):
        """Open url; basic auth only when it is on the host of the index whose URL holds the credentials."""
        parts = urlsplit(url)
        headers = {}
        if accept:
            headers['Accept'] = accept
        index_parts = urlsplit(index) if index else None
        if index_parts and index_parts.username is not None and index_parts.hostname == parts.hostname:
            userpass = '%s:%s' % (unquote(index_parts.username), unquote(index_parts.password or ''))
            headers['Authorization'] = 'Basic ' + base64.b64encode(userpass.encode('utf-8')).decode('ascii')
        self.requests += 1
        # No ~/.netrc and no Authorization header after a redirect to another host.
        return open_url(strip_credentials(url), headers=headers, timeout=self.timeout, http_agent='airgap.packages wheel_cache',
                        use_netrc=False, unredirected_headers=['Authorization'] if 'Authorization' in headers else None)

    def _unreachable(self, url, exc):
        reason = getattr(exc, 'reason', None) or exc
        return ResolutionError('cannot reach the package index at %s (%s); check the URL, the network and the credentials'
                               % (url_label(url), reason), index=strip_credentials(url))

    # -- project pages

    def project_files(self, name):
        """All DistFiles of a project across indexes and find-links (cached for this run); [] when nowhere."""
        name = normalise_name(name)
        if name in self._pages:
            return self._pages[name]
        files = []
        for index in self.index_urls:
            files.extend(self._index_files(index, name))
        for location in self.find_links:
            files.extend(self._find_links_files(location, name))
        self._pages[name] = files
        return files

    def _index_files(self, index, name):
        page_url = urljoin(index, name + '/')
        if urlsplit(page_url).scheme == 'file':
            return self._file_index_files(page_url, index)
        try:
            response = self._request(page_url, index, accept=_ACCEPT)
            body = response.read()
            content_type = response.headers.get('Content-Type', '')
            final_url = strip_credentials(response.geturl())
        except HTTPError as exc:
            if exc.code == 404:
                return []
            if exc.code in (401, 403):
                raise ResolutionError('the package index at %s refused access (HTTP %d); check the credentials in the index URL'
                                      % (url_label(index), exc.code), index=strip_credentials(index))
            raise ResolutionError('the package index at %s answered HTTP %d for %s' % (url_label(index), exc.code, name),
                                  index=strip_credentials(index))
        except (URLError, UrlsConnectionError, socket.timeout, IOError, OSError) as exc:
            raise self._unreachable(index, exc)
        if 'json' in content_type:
            return parse_json_page(json.loads(body.decode('utf-8')), final_url, index)
        return parse_html_page(body.decode('utf-8', 'replace'), final_url, index)

    def _file_index_files(self, page_url, index):
        path = url2pathname(urlsplit(page_url).path)
        page = os.path.join(path, 'index.html')
        if not os.path.isfile(page):
            return []
        with open(page, 'rb') as handle:
            return parse_html_page(handle.read().decode('utf-8', 'replace'), 'file://' + page.replace(os.sep, '/'), index)

    def _find_links_files(self, location, name):
        directory = url2pathname(urlsplit(location).path) if location.startswith('file:') else location
        if not os.path.isdir(directory):
            return []
        files = []
        for filename in sorted(os.listdir(directory)):
            if not _ARCHIVE_RE.search(filename) or _project_of(filename) != name:
                continue
            path = os.path.abspath(os.path.join(directory, filename))
            files.append(DistFile(filename, 'file://' + path, location))
        return files

    # -- files

    def read(self, url, index):
        """Bytes of a small file (metadata)."""
        try:
            return self._request(url, index).read()
        except (URLError, UrlsConnectionError, socket.timeout, IOError, OSError) as exc:
            raise self._unreachable(url, exc)

    def fetch(self, dist, directory):
        """Download dist into directory (verifying the index's sha256); returns (path, sha256, size). Cached per run."""
        if dist.url in self._fetched and os.path.exists(self._fetched[dist.url][0]):
            return self._fetched[dist.url]
        path = os.path.join(directory, dist.filename)
        fd, tmp = tempfile.mkstemp(prefix='.part-', dir=directory)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, 'wb') as out:
                if dist.url.startswith('file:'):
                    source = open(url2pathname(urlsplit(dist.url).path), 'rb')
                else:
                    source = self._request(dist.url, dist.index)
                try:
                    for chunk in iter(lambda: source.read(_CHUNK), b''):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                finally:
                    source.close()
            actual = digest.hexdigest()
            if dist.sha256 and actual != dist.sha256:
                raise ResolutionError(
                    '%s from %s has sha256 %s but the index announced %s: the download was altered or the index is '
                    'inconsistent; nothing was cached' % (dist.filename, url_label(dist.index), actual, dist.sha256),
                    file=dist.filename)
            os.rename(tmp, path)
        except (IOError, OSError, socket.timeout, UrlsConnectionError) as exc:
            _remove(tmp)
            if getattr(exc, 'errno', None) == errno.ENOSPC:
                raise AirgapError('no space left on the device holding %s while downloading %s; free space and run again, '
                                  'the previous cache is untouched' % (directory, dist.filename), file=dist.filename)
            if isinstance(exc, HTTPError):
                raise ResolutionError('the package index at %s answered HTTP %d for %s' % (url_label(dist.index), exc.code,
                                                                                           dist.filename), file=dist.filename)
            raise self._unreachable(dist.url, exc)
        except Exception:
            _remove(tmp)
            raise
        self._fetched[dist.url] = (path, actual, size)
        return self._fetched[dist.url]


def _project_of(filename):
    if filename.lower().endswith('.whl'):
        return normalise_name(filename.split('-')[0])
    return normalise_name(re.sub(r'-\d[^-]*\.(tar\.gz|zip)$', '', filename, flags=re.IGNORECASE))


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass
