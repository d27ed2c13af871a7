"""The gRPC gateway: FlytePropeller's ``AsyncAgentService`` / ``AgentMetadataService`` calls,
forwarded to the connector's HTTP API (DESIGN section 2).

Propeller only speaks gRPC and the connector runs behind an HTTPS endpoint on Lambda; this small
server sits in the cluster between them. Every RPC is driven by :data:`handler.routes.BY_RPC` and
:mod:`handler.codec`, the same contract the FastAPI app serves, so the two cannot drift apart.

Modules: :mod:`.settings` (flags and environment), :mod:`.forward` (one RPC -> one HTTP exchange,
deadlines, retries, status mapping), :mod:`.sigv4` (AWS request signing), :mod:`.server` (the
``grpc.aio`` server, health, keepalive, shutdown), :mod:`.metrics` and :mod:`.calllog`
(observability), :mod:`.__main__` (the ``mmcloud-gateway`` command).
"""
