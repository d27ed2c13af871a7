"""``mmcloud-gateway`` / ``python -m handler.gateway``: run the gRPC gateway until SIGTERM.

Exit status: 0 after a clean stop, 2 for bad settings (including no AWS credentials to sign with).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from handler.gateway.calllog import configure_logging
from handler.gateway.server import Gateway
from handler.gateway.settings import GatewaySettings, parse_settings
from handler.gateway.sigv4 import SigningConfigError


async def serve(settings: GatewaySettings) -> None:
    gateway = Gateway(settings)
    await gateway.start()
    await gateway.run_until_signalled()


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings))
    except (SigningConfigError, OSError) as exc:
        print(f"mmcloud-gateway: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
