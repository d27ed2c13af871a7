"""``python -m handler.gateway.healthcheck``: exit 0 if the local gateway's health says SERVING.

For a container ``HEALTHCHECK`` and for clusters without Kubernetes' native gRPC probe, where no
``grpc_health_probe`` binary is in the image. Reads the port from ``MMCLOUD_GATEWAY_PORT``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from handler.gateway.settings import env_name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handler.gateway.healthcheck")
    port = os.environ.get(env_name("port"), "8000")
    parser.add_argument(
        "--address",
        default=f"127.0.0.1:{port}",
        help="host:port of the gateway (default: %(default)s)",
    )
    parser.add_argument("--service", default="", help="a service name; default: the server")
    parser.add_argument(
        "--timeout", type=float, default=3.0, help="seconds to wait (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    with grpc.insecure_channel(args.address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as exc:
            detail = exc.details()
            if not detail and exc.code() == grpc.StatusCode.NOT_FOUND:
                detail = f"the server has no service {args.service!r}"
            print(f"{args.address}: {exc.code().name}: {detail}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.address}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
