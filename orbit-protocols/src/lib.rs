//! Orbit's protocol front doors (Redis RESP, PostgreSQL wire, MCP) will live
//! here, each talking only to [`orbit_shared::ActorGateway`], so that this
//! crate never depends on the node. None is implemented yet: the only front
//! door today is gRPC, served by `orbit-server` itself.
