# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One address that the offline hosts may reach, like a VPC endpoint: the store servers bind to it.

The address sits on the root namespace's loopback, so traffic to it never leaves this machine; each
host gets a /32 route to it through its own gateway (HostFleet.reach) and still no default route.
An address that is not assigned here must never be used instead: such traffic would leave the machine.
"""

import os
import socket
import subprocess
import time

ENDPOINT_ADDRESS = '10.250.255.254'


class EndpointAddress:
    """ENDPOINT_ADDRESS on the root namespace's lo; removed again by remove() only if add() put it there."""

    def __init__(self, address=ENDPOINT_ADDRESS, device='lo'):
        self.address = address
        self.device = device
        self.added = False

    def add(self):
        if not self.assigned():
            result = subprocess.run(['ip', 'addr', 'add', '%s/32' % self.address, 'dev', self.device],
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError('cannot put %s on %s (needs root): %s' % (self.address, self.device, result.stderr.strip()))
            self.added = True
        return self

    def remove(self):
        if self.added:
            subprocess.run(['ip', 'addr', 'del', '%s/32' % self.address, 'dev', self.device], capture_output=True, check=False)
            self.added = False

    def assigned(self):
        shown = subprocess.run(['ip', '-o', 'addr', 'show', 'dev', self.device], capture_output=True, text=True, check=True)
        for line in shown.stdout.splitlines():
            fields = line.split()
            if len(fields) > 3 and fields[2] == 'inet' and fields[3].split('/')[0] == self.address:
                return True
        return False

    def __enter__(self):
        return self.add()

    def __exit__(self, *exc):
        self.remove()


def free_port(address):
    """A port that is free on address now: the kernel picks it for a socket bound to port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def wait_for_listener(address, port, process, log, timeout=30):
    """Wait until something accepts connections on address:port; fail early if process has exited."""
    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError('the server on %s:%d exited (%d): %s' % (address, port, process.returncode, log_tail(log)))
        if time.time() > deadline:
            raise RuntimeError('nothing answered on %s:%d within %d s: %s' % (address, port, timeout, log_tail(log)))
        time.sleep(0.05)


def stop_process(process, timeout=10):
    """Kill a server started in its own session, by its PID, and reap it."""
    if process is None or process.poll() is not None:
        return
    process.kill()
    process.wait(timeout=timeout)


def log_tail(path, size=2000):
    if not os.path.exists(path):
        return '(no log)'
    with open(path, 'rb') as handle:
        handle.seek(max(0, os.path.getsize(path) - size))
        return handle.read().decode(errors='replace')
