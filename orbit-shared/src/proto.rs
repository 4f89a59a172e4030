//! The gRPC protocol generated from `proto/orbit.proto`, with conversions
//! between its messages and the shared types.

#[allow(clippy::all, missing_docs)]
mod generated {
    tonic::include_proto!("orbit.v1");
}

pub use generated::*;

use crate::error::ErrorKind as Kind;
use crate::{Error, Reply};

impl From<Kind> for generated::ErrorKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::NotFound => Self::NotFound,
            Kind::InvalidArgument => Self::InvalidArgument,
            Kind::WrongType => Self::WrongType,
            Kind::Unavailable => Self::Unavailable,
            Kind::Timeout => Self::Timeout,
            Kind::Unauthenticated => Self::Unauthenticated,
            Kind::Internal => Self::Internal,
        }
    }
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Self {
        Failure {
            kind: generated::ErrorKind::from(error.kind()) as i32,
            message: error.to_string(),
            detail: serde_json::to_vec(error).unwrap_or_default().into(),
        }
    }
}

impl From<Failure> for Error {
    /// Rebuilds the typed error; falls back to the message when the detail is
    /// missing or from an unknown (newer) variant.
    fn from(failure: Failure) -> Self {
        if let Ok(error) = serde_json::from_slice::<Error>(&failure.detail) {
            return error;
        }
        let kind = match generated::ErrorKind::try_from(failure.kind) {
            Ok(generated::ErrorKind::NotFound) => Kind::NotFound,
            Ok(generated::ErrorKind::InvalidArgument) => Kind::InvalidArgument,
            Ok(generated::ErrorKind::WrongType) => Kind::WrongType,
            Ok(generated::ErrorKind::Unavailable) => Kind::Unavailable,
            Ok(generated::ErrorKind::Timeout) => Kind::Timeout,
            Ok(generated::ErrorKind::Unauthenticated) => Kind::Unauthenticated,
            _ => Kind::Internal,
        };
        Error::Actor { kind, message: failure.message }
    }
}

impl InvokeRequest {
    /// The dynamic call this request carries.
    pub fn invocation(&self) -> crate::Invocation {
        let invocation = crate::Invocation::new(self.method.clone(), self.args.clone());
        match self.idempotency_key.is_empty() {
            true => invocation,
            false => invocation.with_idempotency_key(self.idempotency_key.clone()),
        }
    }

    /// A call of `invocation` on actor `id`; `forwarded` when a cluster node
    /// sends it on to the partition's leader.
    pub fn call(id: crate::ActorId, invocation: crate::Invocation, forwarded: bool) -> Self {
        InvokeRequest {
            id: 0,
            kind: id.kind,
            key: id.key,
            method: invocation.method,
            args: invocation.args,
            forwarded,
            idempotency_key: invocation.idempotency_key.unwrap_or_default(),
            call_chain: Vec::new(),
        }
    }

    /// This call as made inside the turns of `chain` (actor and turn
    /// number, outermost first).
    pub fn in_chain(mut self, chain: Vec<(crate::ActorId, u64)>) -> Self {
        self.call_chain =
            chain.into_iter().map(|(id, turn)| ChainLink { kind: id.kind, key: id.key, turn }).collect();
        self
    }

    /// The turns waiting on this call, outermost first.
    pub fn chain(&self) -> Vec<(crate::ActorId, u64)> {
        self.call_chain.iter().map(|l| (crate::ActorId::new(l.kind.clone(), l.key.clone()), l.turn)).collect()
    }
}

impl InvokeResponse {
    pub fn from_result(id: u64, result: Result<Reply, Error>) -> Self {
        let outcome = match result {
            Ok(reply) => invoke_response::Outcome::Value(reply.value),
            Err(error) => invoke_response::Outcome::Error(Failure::from(&error)),
        };
        InvokeResponse { id, outcome: Some(outcome) }
    }

    pub fn into_result(self) -> Result<Reply, Error> {
        match self.outcome {
            Some(invoke_response::Outcome::Value(value)) => Ok(Reply { value }),
            Some(invoke_response::Outcome::Error(failure)) => Err(failure.into()),
            None => Err(Error::Internal { reason: "response without outcome".into() }),
        }
    }
}

impl InvokeAtomicResponse {
    pub fn from_result(result: Result<Vec<Reply>, Error>) -> Self {
        let outcome = match result {
            Ok(replies) => invoke_atomic_response::Outcome::Replies(AtomicReplies {
                values: replies.into_iter().map(|r| r.value).collect(),
            }),
            Err(e) => invoke_atomic_response::Outcome::Error(Failure::from(&e)),
        };
        InvokeAtomicResponse { outcome: Some(outcome) }
    }

    pub fn into_result(self) -> Result<Vec<Reply>, Error> {
        match self.outcome {
            Some(invoke_atomic_response::Outcome::Replies(r)) => {
                Ok(r.values.into_iter().map(|value| Reply { value }).collect())
            }
            Some(invoke_atomic_response::Outcome::Error(failure)) => Err(failure.into()),
            None => Err(Error::Internal { reason: "empty InvokeAtomic response".into() }),
        }
    }
}

impl ListActorsResponse {
    pub fn from_result(result: Result<crate::ActorPage, Error>) -> Self {
        let outcome = match result {
            Ok(page) => list_actors_response::Outcome::Page(ActorPage {
                actors: page
                    .actors
                    .into_iter()
                    .map(|a| StoredActor { key: a.key, state: a.state, active: a.active })
                    .collect(),
                cursor: page.cursor.unwrap_or_default(),
            }),
            Err(error) => list_actors_response::Outcome::Error(Failure::from(&error)),
        };
        ListActorsResponse { outcome: Some(outcome) }
    }

    pub fn into_result(self) -> Result<crate::ActorPage, Error> {
        match self.outcome {
            Some(list_actors_response::Outcome::Page(page)) => Ok(crate::ActorPage {
                actors: page
                    .actors
                    .into_iter()
                    .map(|a| crate::StoredActor { key: a.key, state: a.state, active: a.active })
                    .collect(),
                cursor: (!page.cursor.is_empty()).then_some(page.cursor),
            }),
            Some(list_actors_response::Outcome::Error(failure)) => Err(failure.into()),
            None => Err(Error::Internal { reason: "response without outcome".into() }),
        }
    }
}

impl ReadActorResponse {
    pub fn from_result(result: Result<Option<bytes::Bytes>, Error>) -> Self {
        let outcome = match result {
            Ok(state) => read_actor_response::Outcome::Found(StoredState { state }),
            Err(error) => read_actor_response::Outcome::Error(Failure::from(&error)),
        };
        ReadActorResponse { outcome: Some(outcome) }
    }

    pub fn into_result(self) -> Result<Option<bytes::Bytes>, Error> {
        match self.outcome {
            Some(read_actor_response::Outcome::Found(found)) => Ok(found.state),
            Some(read_actor_response::Outcome::Error(failure)) => Err(failure.into()),
            None => Err(Error::Internal { reason: "response without outcome".into() }),
        }
    }
}

impl DescribeResponse {
    pub fn from_result(result: Result<crate::NodeDescription, Error>) -> Self {
        let outcome = match result {
            Ok(node) => describe_response::Outcome::Node(NodeDescription {
                version: node.version,
                ready: node.ready,
                backend: node.backend,
                durability: node.durability,
                uptime_ms: node.uptime_ms,
                grpc_addr: node.grpc_addr,
                kinds: node
                    .kinds
                    .into_iter()
                    .map(|k| KindDescription {
                        kind: k.kind,
                        methods: k
                            .methods
                            .into_iter()
                            .map(|m| MethodDescription { name: m.name, read_only: m.read_only })
                            .collect(),
                        activations: k.activations,
                        invocations_ok: k.invocations_ok,
                        mailbox_rejections: k.mailbox_rejections,
                    })
                    .collect(),
                partitions: node
                    .partitions
                    .into_iter()
                    .map(|p| PartitionDescription {
                        id: p.id,
                        first_slot: p.first_slot,
                        end_slot: p.end_slot,
                        leader: p.leader,
                        replicas: p.replicas,
                        term: p.term,
                        applied: p.applied,
                        lag: p.lag,
                    })
                    .collect(),
                active_actors: node.active_actors,
                storage_reads: node.storage_reads,
                storage_writes: node.storage_writes,
                storage_fsyncs: node.storage_fsyncs,
                storage_keys: node.storage_keys,
                storage_disk_bytes: node.storage_disk_bytes,
                cluster_id: node.cluster_id,
                node_id: node.node_id,
                nodes: node
                    .nodes
                    .into_iter()
                    .map(|n| ClusterNode { id: n.id, addr: n.addr, partitions_led: n.partitions_led })
                    .collect(),
            }),
            Err(error) => describe_response::Outcome::Error(Failure::from(&error)),
        };
        DescribeResponse { outcome: Some(outcome) }
    }

    pub fn into_result(self) -> Result<crate::NodeDescription, Error> {
        match self.outcome {
            Some(describe_response::Outcome::Node(node)) => Ok(crate::NodeDescription {
                version: node.version,
                ready: node.ready,
                backend: node.backend,
                durability: node.durability,
                uptime_ms: node.uptime_ms,
                grpc_addr: node.grpc_addr,
                kinds: node
                    .kinds
                    .into_iter()
                    .map(|k| crate::KindDescription {
                        kind: k.kind,
                        methods: k
                            .methods
                            .into_iter()
                            .map(|m| crate::MethodDescription { name: m.name, read_only: m.read_only })
                            .collect(),
                        activations: k.activations,
                        invocations_ok: k.invocations_ok,
                        mailbox_rejections: k.mailbox_rejections,
                    })
                    .collect(),
                partitions: node
                    .partitions
                    .into_iter()
                    .map(|p| crate::PartitionDescription {
                        id: p.id,
                        first_slot: p.first_slot,
                        end_slot: p.end_slot,
                        leader: p.leader,
                        replicas: p.replicas,
                        term: p.term,
                        applied: p.applied,
                        lag: p.lag,
                    })
                    .collect(),
                active_actors: node.active_actors,
                storage_reads: node.storage_reads,
                storage_writes: node.storage_writes,
                storage_fsyncs: node.storage_fsyncs,
                storage_keys: node.storage_keys,
                storage_disk_bytes: node.storage_disk_bytes,
                cluster_id: node.cluster_id,
                node_id: node.node_id,
                nodes: node
                    .nodes
                    .into_iter()
                    .map(|n| crate::ClusterNodeDescription {
                        id: n.id,
                        addr: n.addr,
                        partitions_led: n.partitions_led,
                    })
                    .collect(),
            }),
            Some(describe_response::Outcome::Error(failure)) => Err(failure.into()),
            None => Err(Error::Internal { reason: "response without outcome".into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ActorId;

    #[test]
    fn typed_errors_survive_the_wire() {
        let errors = [
            Error::UnknownKind { kind: "nope".into() },
            Error::MailboxFull { actor: ActorId::new("counter", vec![0, 1]), capacity: 4 },
            Error::invalid("increment would overflow"),
            Error::StateVersionTooNew { actor: ActorId::new("profile", "ada"), stored: 3, current: 2 },
            Error::Unsupported { what: "listing activations through a remote client".into() },
        ];
        for error in errors {
            let response = InvokeResponse::from_result(7, Err(error.clone()));
            assert_eq!(response.id, 7);
            assert_eq!(response.into_result(), Err(error));
        }
    }

    #[test]
    fn a_node_description_survives_the_wire() {
        let node = crate::NodeDescription {
            version: "0.1.0".into(),
            ready: true,
            backend: "lsm".into(),
            durability: "always".into(),
            uptime_ms: 5,
            grpc_addr: "127.0.0.1:1".into(),
            kinds: vec![crate::KindDescription {
                kind: "counter".into(),
                methods: vec![crate::MethodDescription { name: "get".into(), read_only: true }],
                activations: 1,
                invocations_ok: 2,
                mailbox_rejections: 3,
            }],
            partitions: vec![crate::PartitionDescription {
                id: 0,
                first_slot: 0,
                end_slot: 16384,
                leader: "127.0.0.1:1".into(),
                replicas: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
                term: 3,
                applied: 42,
                lag: 1,
            }],
            active_actors: 4,
            storage_reads: 5,
            storage_writes: 6,
            storage_fsyncs: 7,
            storage_keys: 8,
            storage_disk_bytes: 9,
            cluster_id: "c-1".into(),
            node_id: 11,
            nodes: vec![
                crate::ClusterNodeDescription { id: 11, addr: "127.0.0.1:1".into(), partitions_led: 1 },
                crate::ClusterNodeDescription { id: 12, addr: "127.0.0.1:2".into(), partitions_led: 0 },
            ],
        };
        assert_eq!(node.partitions_led(), 1);
        assert_eq!(DescribeResponse::from_result(Ok(node.clone())).into_result(), Ok(node));
        let missing = ReadActorResponse::from_result(Ok(None)).into_result();
        assert_eq!(missing, Ok(None));
        let found = ReadActorResponse::from_result(Ok(Some("{}".into()))).into_result();
        assert_eq!(found, Ok(Some(bytes::Bytes::from_static(b"{}"))));
    }

    #[test]
    fn unknown_detail_falls_back_to_kind_and_message() {
        let failure = Failure {
            kind: generated::ErrorKind::Timeout as i32,
            message: "slow".into(),
            detail: "{\"FutureVariant\":{}}".into(),
        };
        let error = Error::from(failure);
        assert_eq!(error.kind(), Kind::Timeout);
        assert_eq!(error.to_string(), "slow");
    }
}
