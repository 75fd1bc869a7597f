"""Hostile, wrap kernel: a client that sends heartbeats and never reads the
echoes (the native kernel's test_hostile_heartbeat). iopsd answers the
frontend's heartbeats itself, in front of the wrapped kernel: the others'
pings must still be answered, during and at once after."""
import unittest

import test_hostile_heartbeat as native
from hostile import WrapHostileCase


class WrapPingerThatNeverReads(WrapHostileCase, native.PingerThatNeverReads):
    pass


if __name__ == "__main__":
    unittest.main()
