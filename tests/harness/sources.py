# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local package sources on loopback for hermetic tests.

GemSource: the fixture gems under tests/fixtures/gems, built with `gem build`, indexed with
`gem generate_index` and served over HTTP. PythonIndex: the fixture projects under
tests/fixtures/python (or another directory, such as tests/fixtures/python-builds), built to
wheels (those in SDIST_ONLY to an sdist only) in a PEP 503 simple tree. Both bind an ephemeral
port on 127.0.0.1, record every request, and can be stopped and started again on the same port
(to prove that a run asks nothing of them).
"""

import base64
import gzip
import hashlib
import html
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures')
# Fixed mtimes make fixture artifacts byte-for-byte reproducible.
SOURCE_DATE_EPOCH = '1700000000'
SDIST_ONLY = ('airgap-fixture-sdistonly', 'airgap-fixture-scmnative')


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, requests=None, **kwargs):
        self._requests = requests
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):
        self._requests.append(self.path)


class StaticServer:
    """A directory served over HTTP on 127.0.0.1, with a log of requested paths."""

    def __init__(self, root):
        self.root = root
        self.requests = []
        self.port = 0
        self._server = None

    def start(self):
        handler = partial(_Handler, directory=self.root, requests=self.requests)
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(('127.0.0.1', self.port), handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def running(self):
        return self._server is not None


class GemSource(StaticServer):
    """The fixture gems as a RubyGems source."""

    def __init__(self, root, fixtures=os.path.join(FIXTURES, 'gems')):
        super().__init__(root)
        self.fixtures = fixtures
        self.gems = {}

    @property
    def url(self):
        return 'http://127.0.0.1:%d/' % self.port

    def build(self):
        gems_dir = os.path.join(self.root, 'gems')
        os.makedirs(gems_dir, exist_ok=True)
        env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
        for name in sorted(os.listdir(self.fixtures)):
            source = os.path.join(self.fixtures, name)
            with tempfile.TemporaryDirectory() as work:
                shutil.copytree(source, work, dirs_exist_ok=True)
                spec = [f for f in os.listdir(work) if f.endswith('.gemspec')][0]
                subprocess.run(['gem', 'build', spec], cwd=work, env=env, check=True, capture_output=True)
                for built in os.listdir(work):
                    if built.endswith('.gem'):
                        shutil.copy(os.path.join(work, built), gems_dir)
                        self.gems[built] = os.path.join(gems_dir, built)
        subprocess.run(['gem', 'generate_index', '--directory', self.root], check=True, capture_output=True)
        return self


class PythonIndex(StaticServer):
    """The fixture projects as a PEP 503 simple index."""

    def __init__(self, root, fixtures=os.path.join(FIXTURES, 'python'), extra_files=()):
        super().__init__(root)
        self.fixtures = fixtures
        self.files_dir = os.path.join(root, 'files')
        self.extra_files = list(extra_files)

    @property
    def url(self):
        return 'http://127.0.0.1:%d/simple/' % self.port

    def build(self):
        os.makedirs(self.files_dir, exist_ok=True)
        for name in sorted(os.listdir(self.fixtures)):
            self._build_project(os.path.join(self.fixtures, name))
        for path in self.extra_files:
            shutil.copy(path, self.files_dir)
        self.write_index()
        return self

    def add(self, path):
        """Publish one more file (a wheel or sdist) and rewrite the index."""
        shutil.copy(path, self.files_dir)
        self.write_index()

    def _build_project(self, source):
        with tempfile.TemporaryDirectory() as work:
            shutil.copytree(source, work, dirs_exist_ok=True)
            hooks = ['build_sdist'] if os.path.basename(source) in SDIST_ONLY else ['build_wheel']
            out = os.path.join(work, '.airgap-fixture-out')
            for hook in hooks:
                # Call the PEP 517 hook directly with the test venv's setuptools (and setuptools_scm): no index needed.
                code = 'import sys; from setuptools import build_meta; build_meta.%s(sys.argv[1])' % hook
                subprocess.run([sys.executable, '-c', code, out], cwd=work, check=True, capture_output=True,
                               env=dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH))
            for built in os.listdir(out):
                if built.endswith('.tar.gz'):
                    normalize_sdist(os.path.join(out, built), os.path.join(self.files_dir, built))
                else:
                    shutil.copy(os.path.join(out, built), self.files_dir)

    def write_index(self):
        write_simple_index(os.path.join(self.root, 'simple'), self.files_dir, lambda f: '../../files/%s' % f)


def project_of(filename):
    """The PEP 503 name of the project a wheel or sdist file belongs to."""
    if filename.endswith('.whl'):
        base = filename.split('-')[0]
    else:
        base = re.sub(r'-\d[^-]*\.(tar\.gz|zip)$', '', filename)
    return re.sub(r'[-_.]+', '-', base).lower()


def write_simple_index(simple, files_dir, href, requires_python=None):
    """A PEP 503 tree under simple/ for every file in files_dir; href(filename) is each link's target."""
    projects = {}
    for filename in sorted(os.listdir(files_dir)):
        projects.setdefault(project_of(filename), []).append(filename)
    os.makedirs(simple, exist_ok=True)
    links = ''.join('<a href="%s/">%s</a>\n' % (name, name) for name in sorted(projects))
    _write(os.path.join(simple, 'index.html'), _page('Simple index', links))
    for name, files in projects.items():
        anchors = []
        for filename in files:
            attribute = ''
            if requires_python and filename in requires_python:
                attribute = ' data-requires-python="%s"' % html.escape(requires_python[filename])
            anchors.append('<a href="%s#sha256=%s"%s>%s</a>\n' % (
                html.escape(href(filename)), _sha256(os.path.join(files_dir, filename)), attribute, html.escape(filename)))
        os.makedirs(os.path.join(simple, name), exist_ok=True)
        _write(os.path.join(simple, name, 'index.html'), _page('Links for %s' % name, ''.join(anchors)))


def file_index(root, files_dir, requires_python=None):
    """A PEP 503 tree under root/simple linking the files in files_dir by file:// URL; returns the index URL."""
    simple = os.path.join(root, 'simple')
    write_simple_index(simple, files_dir, lambda filename: 'file://' + os.path.join(files_dir, filename), requires_python)
    return 'file://%s/' % simple


def make_wheel(directory, name, version, tags='py3-none-any', requires=(), requires_python=None, extras=(), payload=None):
    """A minimal valid pure wheel (one package, METADATA, WHEEL, RECORD with hashes); returns its path.

    payload: bytes stored as <package>/payload.bin, to make a wheel of a given size.
    """
    dist = re.sub(r'[-_.]+', '_', name)
    package = dist.lower()
    info = '%s-%s.dist-info' % (dist, version)
    metadata = ['Metadata-Version: 2.1', 'Name: %s' % name, 'Version: %s' % version]
    metadata += ['Requires-Python: %s' % requires_python] if requires_python else []
    metadata += ['Provides-Extra: %s' % extra for extra in extras]
    metadata += ['Requires-Dist: %s' % requirement for requirement in requires]
    files = {
        '%s/__init__.py' % package: ('__version__ = %r\n' % version).encode(),
        '%s/METADATA' % info: ('\n'.join(metadata) + '\n').encode(),
        '%s/WHEEL' % info: ('Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: %s\n' % tags).encode(),
    }
    if payload is not None:
        files['%s/payload.bin' % package] = payload
    record = ['%s,sha256=%s,%d' % (member, base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode(),
                                   len(data)) for member, data in files.items()]
    files['%s/RECORD' % info] = ('\n'.join(record + ['%s/RECORD,,' % info]) + '\n').encode()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, '%s-%s-%s.whl' % (dist, version, tags))
    with zipfile.ZipFile(path, 'w') as archive:
        for member in sorted(files):
            archive.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), files[member])
    return path


def normalize_sdist(source, destination):
    """Rewrite an sdist byte-for-byte reproducibly. setuptools' sdist (65.5 in the test venv) ignores
    SOURCE_DATE_EPOCH: its tarball carries the build time (in the gzip header and on the generated PKG-INFO,
    setup.cfg and egg-info), the checkout's mtimes and modes, and the builder's owner."""
    mtime = int(SOURCE_DATE_EPOCH)
    with tarfile.open(source, 'r:gz') as archive:
        members = sorted(archive.getmembers(), key=lambda member: member.name)
        payloads = {member.name: archive.extractfile(member).read() for member in members if member.isfile()}
    with open(destination, 'wb') as raw, gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=mtime) as zipped:
        with tarfile.open(fileobj=zipped, mode='w', format=tarfile.PAX_FORMAT) as archive:
            for member in members:
                member.mtime, member.uid, member.gid, member.uname, member.gname = mtime, 0, 0, '', ''
                member.pax_headers = {}
                if member.isdir() or member.mode & 0o111:
                    member.mode = 0o755
                else:
                    member.mode = 0o644
                data = payloads.get(member.name)
                archive.addfile(member, io.BytesIO(data) if data is not None else None)
    return destination


def _sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _page(title, body):
    return '<!DOCTYPE html>\n<html><head><title>%s</title></head><body>\n%s</body></html>\n' % (title, body)


def _write(path, text):
    with open(path, 'w') as handle:
        handle.write(text)


def main(argv=None):
    """Command line for molecule and the demo: start a source as a detached process, or stop it."""
    import argparse
    import json
    import signal
    import time

    parser = argparse.ArgumentParser(description='Serve the fixture gems or Python projects on 127.0.0.1.')
    parser.add_argument('action', choices=['start', 'stop', 'serve'])
    parser.add_argument('--kind', choices=['gems', 'python'], default='gems')
    parser.add_argument('--state-dir', required=True)
    args = parser.parse_args(argv)
    state = os.path.abspath(args.state_dir)
    record = os.path.join(state, 'source.json')
    if args.action == 'start':
        os.makedirs(state, exist_ok=True)
        log = open(os.path.join(state, 'source.log'), 'ab')
        subprocess.Popen([sys.executable, os.path.abspath(__file__), 'serve', '--kind', args.kind, '--state-dir', state],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 120
        while not os.path.exists(record):
            if time.time() > deadline:
                raise SystemExit('the %s source did not start; see %s' % (args.kind, log.name))
            time.sleep(0.1)
        with open(record) as handle:
            print(json.load(handle)['url'])
    elif args.action == 'stop':
        if os.path.exists(record):
            with open(record) as handle:
                pid = json.load(handle)['pid']
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            os.unlink(record)
    else:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
        kind = GemSource if args.kind == 'gems' else PythonIndex
        server = kind(os.path.join(state, 'root')).build().start()
        with open(record + '.tmp', 'w') as handle:
            json.dump({'url': server.url, 'pid': os.getpid()}, handle)
        os.rename(record + '.tmp', record)
        signal.sigwait([signal.SIGTERM, signal.SIGINT])
        server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
