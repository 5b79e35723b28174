"""The debug channel: fwemu ↔ the target agent over any pyserial URL (protocol/PROTOCOL.md).

    protocol.py   constants (from the C core), msgpack with limits, framing (C core)
    transport.py  a pyserial URL with its handler's pitfalls handled
    client.py     AgentChannel: sequence numbers, retries, timeouts, events, resync
    hostagent.py  the C agent on the host with a Python platform (sim board, tests)
    faultlink.py  a fault-injecting relay for tests (drop, corrupt, duplicate, delay)
"""

from .client import AgentChannel, HelloInfo
from .protocol import AgentError, ChannelError, ChannelTimeout, TargetResetError

__all__ = ["AgentChannel", "HelloInfo", "AgentError", "ChannelError", "ChannelTimeout",
           "TargetResetError"]
