//! What the Raft groups replicate, and openraft's type configuration.
//!
//! A log entry of a partition group is a turn's storage batch (one
//! partition's writes), never the invocation: followers apply it without
//! running actor code. The metadata group's entries record the cluster's
//! nodes and partition replicas.

use bytes::Bytes;
use orbit_shared::WriteOp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A node's id in the cluster, assigned at formation and kept in its data
/// directory.
pub type NodeId = u64;

/// A Raft group: partitions are groups `0..count`, the metadata group is
/// [`META_GROUP`].
pub type GroupId = u16;

/// The metadata group (the storage layout's system partition number).
pub const META_GROUP: GroupId = crate::storage::layout::SYSTEM_PARTITION;

/// What one log entry asks the state machine to do.
///
/// A write larger than one entry should carry (`MAX_ENTRY_BYTES` in
/// `mod.rs`) is proposed as `Stage` parts followed by a `Commit`: the parts
/// are kept in the partition's staging area and applied, with the commit's
/// own writes, in one store batch when the commit is, so the write stays
/// all or nothing. The first entry of every term (a blank) clears the
/// staging area: parts of a write whose leader lost its term never apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// A turn's (or an atomic group's) writes, all in this group's partition.
    Write(Vec<WriteOp>),
    /// Writes that apply only if the entry was proposed in `term` (their
    /// proposer decided them on state it held as that term's leader); in
    /// any other term nothing is applied and the entry answers false.
    WriteInTerm { term: u64, ops: Vec<WriteOp> },
    /// The metadata group's record of the cluster's shape.
    Meta(ClusterMeta),
    /// Part `part` of staged write `id`, kept until its commit.
    Stage { id: u64, part: u32, ops: Vec<WriteOp> },
    /// The last writes of staged write `id`, applied with its `parts` parts;
    /// if any part is missing, or the entry's term is not `term` (when
    /// given), nothing is applied (the entry answers false).
    Commit { id: u64, parts: u32, term: Option<u64>, ops: Vec<WriteOp> },
}

/// About how many bytes `op` takes in an entry.
pub fn op_bytes(op: &WriteOp) -> usize {
    let value = match op {
        WriteOp::Put(_, value) => value.len(),
        WriteOp::Delete(_) | WriteOp::Add(..) => 8,
    };
    op.key().len() + value + 8
}

impl Command {
    /// About how many bytes of writes the entry carries.
    pub fn bytes(&self) -> usize {
        match self {
            Command::Write(ops)
            | Command::WriteInTerm { ops, .. }
            | Command::Stage { ops, .. }
            | Command::Commit { ops, .. } => ops.iter().map(op_bytes).sum(),
            Command::Meta(_) => 256,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Write(ops) => write!(f, "write({} ops)", ops.len()),
            Command::WriteInTerm { term, ops } => write!(f, "write(term {term}: {} ops)", ops.len()),
            Command::Meta(meta) => write!(f, "meta({} nodes)", meta.nodes.len()),
            Command::Stage { id, part, ops } => write!(f, "stage({id}/{part}: {} ops)", ops.len()),
            Command::Commit { id, parts, ops, .. } => {
                write!(f, "commit({id}, {parts} parts, {} ops)", ops.len())
            }
        }
    }
}

/// The cluster's shape as the metadata group records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterMeta {
    pub cluster_id: String,
    /// Node id to its advertised gRPC address.
    pub nodes: BTreeMap<NodeId, String>,
    /// Partition to the nodes that replicate it.
    pub replicas: BTreeMap<GroupId, Vec<NodeId>>,
}

/// A node as Raft's membership records it: where its gRPC port is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub addr: String,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

/// A snapshot: every pair of the group's key range at (or after, see
/// `machine.rs`) its applied index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotPairs {
    pub pairs: Vec<(Bytes, Bytes)>,
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Command,
        R = bool,
        NodeId = NodeId,
        Node = Peer,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = SnapshotPairs,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Membership = openraft::StoredMembership<NodeId, Peer>;
