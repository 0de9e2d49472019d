# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A store tree served read-only over plain HTTP by a separate process, like a static web store.

It runs as its own process so that a test can really kill it in the middle of a transfer (stop() sends
SIGKILL: the client is left with a short read), and it can be throttled so that the middle of a
transfer lasts long enough to be hit. GET and HEAD, single byte ranges, 404 for anything that is not a
file under the root, no directory listings. The server writes one JSON line per event to its log and
flushes it: `boot` when it listens, `start` when it begins answering a request, `done` with the status
and the body bytes it really sent (fewer than the file's size when the client went away). A request
still in flight when the server is killed has a `start` line and no `done` line.

    python storeserver.py --root R --bind A --port P --log L [--throttle BYTES_PER_SECOND]
"""

import argparse
import email.utils
import json
import mimetypes
import os
import posixpath
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from endpoint import ENDPOINT_ADDRESS, free_port, stop_process, wait_for_listener

SCRIPT = os.path.abspath(__file__)
_RANGE = re.compile(r'^bytes=(\d*)-(\d*)$')


class StoreWebServer:
    """The server process for one root; start() after stop() binds the same port, so URLs stay valid."""

    def __init__(self, root, address=ENDPOINT_ADDRESS, state_dir=None, throttle_bytes_per_second=None, port=None):
        self.root = os.path.abspath(root)
        self.address = address
        self.state_dir = os.path.abspath(state_dir or tempfile.mkdtemp(prefix='store-web-'))
        # Read at each start(): a test may restart the server unthrottled.
        self.throttle_bytes_per_second = throttle_bytes_per_second
        self.port = port
        self.log = os.path.join(self.state_dir, 'requests.log')
        self._process = None

    @property
    def url(self):
        return 'http://%s:%d/' % (self.address, self.port)

    @property
    def running(self):
        return self._process is not None and self._process.poll() is None

    def start(self):
        if self.running:
            return self
        os.makedirs(self.state_dir, exist_ok=True)
        if self.port is None:
            self.port = free_port(self.address)
        argv = [sys.executable, SCRIPT, '--root', self.root, '--bind', self.address, '--port', str(self.port), '--log', self.log]
        if self.throttle_bytes_per_second:
            argv += ['--throttle', str(int(self.throttle_bytes_per_second))]
        output_path = os.path.join(self.state_dir, 'server.out')
        with open(output_path, 'ab') as output:
            self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True)
        try:
            wait_for_listener(self.address, self.port, self._process, output_path)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """SIGKILL: the server dies at once, in the middle of whatever it was sending."""
        stop_process(self._process)
        self._process = None

    def requests(self, settle=2.0):
        """(method, path, status, body bytes sent) of every request the server finished or saw abandoned.

        The server logs a request when it has sent the last byte, which may be just after the client had it:
        while the server runs, wait up to settle seconds for the requests it began to be done.
        """
        deadline = time.time() + settle
        while True:
            events = self._events()
            # Only the running server's own requests can still finish: the last `boot` line begins them.
            current = [event['event'] for event in events[_last_boot(events):]]
            if current.count('start') == current.count('done') or not self.running or time.time() > deadline:
                return [(event['method'], event['path'], event['status'], event['bytes'])
                        for event in events if event['event'] == 'done']
            time.sleep(0.01)

    def started(self):
        """(method, path) of every request the server began to answer, including any cut off by stop()."""
        return [(event['method'], event['path']) for event in self._events() if event['event'] == 'start']

    def wait_started(self, path, timeout=30):
        """Wait until a GET of path has begun (to stop() the server in the middle of it)."""
        deadline = time.time() + timeout
        while ('GET', path) not in self.started():
            if time.time() > deadline:
                raise AssertionError('no GET %s reached the store server within %d s' % (path, timeout))
            time.sleep(0.02)

    def _events(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as handle:
            # A line cut short by SIGKILL is not an event.
            return [json.loads(line) for line in handle if line.endswith('\n')]


def _last_boot(events):
    boots = [index for index, event in enumerate(events) if event['event'] == 'boot']
    return boots[-1] if boots else 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'airgap-store'

    def do_GET(self):
        self._serve(send_body=True)

    def do_HEAD(self):
        self._serve(send_body=False)

    def log_message(self, format, *args):
        pass

    def _serve(self, send_body):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        self.server.record(event='start', method=self.command, path=path)
        local = self._local_file(path)
        if local is None:
            self._empty(404)
            self.server.record(event='done', method=self.command, path=path, status=404, bytes=0)
            return
        size = os.path.getsize(local)
        first, last = 0, size - 1
        status = 200
        wanted = _RANGE.match(self.headers.get('Range', '').strip())
        if wanted and (wanted.group(1) or wanted.group(2)):
            if wanted.group(1):
                first = int(wanted.group(1))
                last = min(int(wanted.group(2)), size - 1) if wanted.group(2) else size - 1
            else:
                first = max(0, size - int(wanted.group(2)))
            if first >= size or first > last:
                self._empty(416, {'Content-Range': 'bytes */%d' % size})
                self.server.record(event='done', method=self.command, path=path, status=416, bytes=0)
                return
            status = 206
        self._sent = 0
        try:
            self._send_head(local, status, first, last, size)
            if send_body:
                self._send_file(local, first, last - first + 1)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        self.server.record(event='done', method=self.command, path=path, status=status, bytes=self._sent)

    def _send_head(self, local, status, first, last, size):
        self.send_response(status)
        self.send_header('Content-Type', mimetypes.guess_type(local)[0] or 'application/octet-stream')
        self.send_header('Content-Length', str(last - first + 1))
        self.send_header('Last-Modified', email.utils.formatdate(os.path.getmtime(local), usegmt=True))
        self.send_header('Accept-Ranges', 'bytes')
        if status == 206:
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (first, last, size))
        self.end_headers()

    def _send_file(self, local, offset, length):
        """The body in chunks; throttled, each chunk waits for its moment at `throttle` bytes per second."""
        throttle = self.server.throttle
        chunk = max(1024, min(65536, throttle // 20)) if throttle else 65536
        began = time.monotonic()
        with open(local, 'rb') as handle:
            handle.seek(offset)
            while self._sent < length:
                data = handle.read(min(chunk, length - self._sent))
                if not data:
                    break
                self.wfile.write(data)
                self.wfile.flush()
                self._sent += len(data)
                if throttle:
                    delay = began + self._sent / throttle - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)

    def _local_file(self, path):
        """The file under the root that path names, or None (directories, escapes, missing files)."""
        relative = posixpath.normpath('/' + path).lstrip('/')
        local = os.path.realpath(os.path.join(self.server.root, relative))
        if not local.startswith(self.server.root + os.sep) or not os.path.isfile(local):
            return None
        return local

    def _empty(self, status, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Length', '0')
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, bind, root, log, throttle):
        self.root = os.path.realpath(root)
        self.throttle = throttle
        self._log = open(log, 'a')
        self._lock = threading.Lock()
        super().__init__(bind, _Handler)
        self.record(event='boot', pid=os.getpid())

    def record(self, **event):
        with self._lock:
            self._log.write(json.dumps(event) + '\n')
            self._log.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--root', required=True)
    parser.add_argument('--bind', default=ENDPOINT_ADDRESS)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--log', required=True)
    parser.add_argument('--throttle', type=int, default=None, help='bytes per second for each response body')
    args = parser.parse_args(argv)
    server = _Server((args.bind, args.port), args.root, args.log, args.throttle)
    server.serve_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main())
