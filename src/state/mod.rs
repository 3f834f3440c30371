//! State: the records the single writer folds probe reports into, and the immutable
//! [`Snapshot`] it publishes for every reader. The snapshot is built from the records, never
//! the other way round; the state file's format is [`crate::persist::format`]'s.

pub mod snapshot;

pub use snapshot::{
    EngineStats, FamilySnapshot, MirrorSnapshot, RepoVerdict, Snapshot, StateSave, TargetName,
    UpstreamTarget,
};

pub mod intern;
pub mod records;
pub mod writer;

pub use records::{FailureNote, LogEntry, LogPhases, Phases, Records};
pub use writer::{Event, StateWriter};
