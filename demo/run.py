# Copyright: airgap.packages contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: start offline hosts on this machine, install on them twice, show what happened, clean up."""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'harness'))

from hosts import HostFleet  # noqa: E402
from runner import Ansible  # noqa: E402

SITE = os.path.join(os.path.dirname(HERE), 'playbooks', 'site.yml')


def main():
    with tempfile.TemporaryDirectory(prefix='airgap-demo-') as state:
        fleet = HostFleet(os.path.join(state, 'hosts'))
        fleet.start(2)
        try:
            ansible = Ansible(inventory=fleet.inventory)
            reached = ansible.module('all', 'ansible.builtin.ping')
            print('Offline hosts up: %s' % ', '.join('%s (%s)' % (h.name, h.address) for h in fleet.hosts))
            print('Reached over ssh: %s' % ', '.join(sorted(h for h, r in reached.items() if r.get('ping') == 'pong')))
            if not os.path.exists(SITE):
                print('nothing to demo yet: playbooks/site.yml does not exist')
                return 0
        finally:
            fleet.stop()
            print('Offline hosts stopped.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
