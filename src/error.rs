//! Stable numeric codes for every error a user can see, shared by the CLI, gRPC answers and HTTP.
//!
//! A code never changes meaning once released. Messages are rendered as `[code=N] what happened;
//! what to do`, the shape DM's dmctl output and scripts already grep for. Ranges: 10xxx flags and
//! config, 11xxx source and task files (DM's source.yaml / task.yaml), 20xxx data dir and storage,
//! 38xxx master cluster (38043 is DM's own "not leader" code), 46xxx scheduler, 47xxx shard DDL.

use std::fmt;

/// The catalogue of user-visible error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// A flag or config value is malformed or out of range.
    ConfigInvalid = 10001,
    /// The config file has a key dm does not know.
    ConfigUnknownKey = 10002,
    /// The config file cannot be read or is not TOML.
    ConfigFile = 10003,
    /// `--initial-cluster` is malformed, has duplicates, or does not contain this master.
    InitialClusterInvalid = 10004,
    /// `--join` points at this master itself.
    JoinSelf = 10005,
    /// Two cluster flags that cannot be combined.
    ConfigConflict = 10006,
    /// A listen address cannot be bound (in use, or not an address of this host).
    ListenFailed = 10007,

    /// A source or task file is not YAML, or a value has the wrong type (message gives line and column).
    SpecYaml = 11001,
    /// A source or task file has a key DM's format does not have (the message gives line and column).
    SpecUnknownKey = 11002,
    /// A value in a source or task file is missing, malformed or out of range.
    SpecInvalidValue = 11003,
    /// A mysql-instance refers to a rule or unit config name the task does not define.
    SpecRuleNotFound = 11004,
    /// The task defines rules or unit configs no mysql-instance refers to (DM: ErrConfigGlobalConfigsUnused).
    SpecRulesUnused = 11005,
    /// Two mysql-instances of one task name the same source-id.
    SpecDuplicateSourceId = 11006,
    /// The file uses a feature DM has removed (e.g. column-mappings).
    SpecDeprecated = 11007,
    /// A task names a source that has not been created (`operate-source create`).
    SpecSourceMissing = 11008,
    /// A mysql-instance gives both a unit config name and an inline one (`mydumper-config-name` and `mydumper`).
    SpecNameAndInline = 11009,
    /// A mysql-instance lists the same rule name twice.
    SpecDuplicateRuleRef = 11010,
    /// A stored source or subtask config cannot be decoded (written by another version, or damaged).
    SpecStoredCorrupt = 11011,

    /// Another process holds the data dir.
    DataDirLocked = 20001,
    /// The data dir was written by a newer dm.
    DataDirNewerVersion = 20002,
    /// The directory is not a dm data dir.
    DataDirForeign = 20003,
    /// The data dir belongs to another cluster than the one `--join` points at.
    DataDirOtherCluster = 20004,
    /// The data dir belongs to a master with another name.
    DataDirNameMismatch = 20005,
    /// Reading or writing the data dir failed.
    StorageIo = 20006,

    /// This master is not the leader and cannot forward (DM: ErrMasterRequestIsNotForwardToLeader).
    NotLeader = 38043,
    /// Forwarding to the leader failed in transit.
    ForwardFailed = 38044,
    /// The cluster could not be reached through any given address.
    ClusterUnreachable = 38045,
    /// Raft refused or failed the operation.
    RaftFailed = 38050,
    /// A master with this name already exists (DM: "missing data or joining a duplicate member").
    MemberNameTaken = 38051,
    /// No master with this name.
    MemberNotFound = 38052,
    /// Removing this master would leave no voter.
    LastVoter = 38053,
    /// `operate-leader evict` with no other master to take over.
    NoOtherMaster = 38054,
    /// The request is malformed (bad op, empty name, wrong member type).
    InvalidArgument = 38055,
    /// A conditional write's compare did not hold; nothing was changed.
    PreconditionFailed = 38056,
    /// The operation did not finish within its deadline.
    Timeout = 38057,
    /// The cluster is not initialised yet (no leader has recorded its id).
    ClusterNotReady = 38058,
    /// The master is in the wrong state for the operation (e.g. promoting one being removed).
    MemberStateInvalid = 38059,
    /// A client address sent more operator requests than `api-rate-limit` allows; wait the
    /// advised time (HTTP `Retry-After`) and retry, or raise the limit.
    ApiRateLimited = 38060,

    /// A dm-worker with this name is registered from another address (DM: ErrSchedulerWorkerExist).
    WorkerNameTaken = 46002,
    /// No dm-worker with this name is registered.
    WorkerNotFound = 46003,
    /// The dm-worker is not free (bound, or offline) for the operation.
    WorkerNotFree = 46004,
    /// offline-member of a dm-worker that is still online (DM: ErrSchedulerWorkerOnline).
    WorkerOnline = 46005,
    /// A source with this id already exists (DM: ErrSchedulerSourceCfgExist).
    SourceExists = 46006,
    /// No source with this id.
    SourceNotFound = 46007,
    /// The source still has tasks (DM: ErrSchedulerSourceOpTaskExist).
    SourceHasTasks = 46008,
    /// Some sources of the task are not bound to a worker (DM: ErrSchedulerSourcesUnbound).
    SourcesUnbound = 46009,
    /// A task with this name already runs on these sources (DM: ErrSchedulerSubTaskExist).
    TaskExists = 46010,
    /// No task with this name (or not on the given source).
    TaskNotFound = 46011,
    /// Another operation on the same task is in progress (DM: ErrSchedulerLatchInUse).
    TaskBusy = 46012,
    /// The worker reported a binding epoch that is no longer its own.
    StaleEpoch = 46013,
    /// A master→worker call failed (unreachable, timed out or rate-limited).
    WorkerUnreachable = 46014,
    /// The workers did not reach the expected stage in time (DM: ErrMasterFailToGetExpectResult).
    ExpectResultTimeout = 46015,
    /// `config worker`: the masters keep only a worker's name and address, not its config.
    WorkerConfigUnknown = 46016,

    /// No shard DDL lock with that id (`shard-ddl-lock` lists them).
    ShardLockNotFound = 47001,
    /// A source's shard DDL operation is done and its lock not yet resolved: retry the Info later.
    ShardOpDone = 47002,
    /// A worker acknowledged a shard DDL operation the master does not have.
    ShardOpNotFound = 47003,
    /// A shard DDL names an upstream table the task does not route (PutSourceTables first).
    ShardTableUnknown = 47004,
    /// A newer shard DDL arrived while the lock was being removed; the lock is kept.
    ShardInfoChanged = 47005,
    /// A shard DDL or table schema that cannot be used (does not parse, wrong table).
    ShardDdlInvalid = 47006,
    /// The task's `shard-mode` is not the mode of the request.
    ShardModeMismatch = 47007,
    /// The lock is not in a state that allows this unlock (owner not waiting, table not conflicted).
    ShardUnlockRefused = 47008,
    /// The owner did not execute the DDL within the unlock wait.
    ShardOwnerTimeout = 47009,
}

impl ErrorCode {
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", *self as i32)
    }
}

/// An error as the user sees it: a code, what happened, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub code: ErrorCode,
    pub message: String,
}

impl UserError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[code={}] {}", self.code, self.message)
    }
}

impl std::error::Error for UserError {}

/// Implemented by every boundary error enum.
pub trait Coded: fmt::Display {
    fn code(&self) -> ErrorCode;

    fn to_user(&self) -> UserError {
        UserError::new(self.code(), self.to_string())
    }
}

impl Coded for UserError {
    fn code(&self) -> ErrorCode {
        self.code
    }
}
