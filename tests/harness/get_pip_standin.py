# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the get-pip script ansible-test downloads for its sanity venvs.

ansible-test fetches get-pip from a CI host this machine cannot reach; this script does the
same job with the interpreter's own ensurepip and then pip from the package index.
"""

import subprocess
import sys

IGNORED = ('--no-setuptools', '--no-wheel')


def main():
    subprocess.run([sys.executable, '-m', 'ensurepip', '--upgrade'], check=True, stdout=subprocess.DEVNULL)
    args = [arg for arg in sys.argv[1:] if arg not in IGNORED]
    if args:
        subprocess.run([sys.executable, '-m', 'pip', 'install'] + args, check=True)


if __name__ == '__main__':
    main()
