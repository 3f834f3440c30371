//! State: the single writer that folds probe reports into records, and the immutable
//! [`Snapshot`] it publishes for every reader.

pub mod snapshot;

pub use snapshot::{
    EngineStats, FailureNote, FamilySnapshot, MirrorSnapshot, Phases, RepoVerdict, Snapshot,
    TargetName, UpstreamTarget,
};

pub mod intern;
pub mod records;
pub mod writer;

pub use records::Records;
pub use writer::{Event, StateWriter};
