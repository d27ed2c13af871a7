"""A local MemVerge OpCenter emulator: OpCenter's REST surface, jobs run as local processes.

It lets the whole connector run on a laptop with no cloud. See ``emulator/README.md``.
"""

from emulator.background import EmulatorServer
from emulator.server import create_app
from emulator.settings import EmulatorSettings

__all__ = ["EmulatorServer", "EmulatorSettings", "create_app"]
