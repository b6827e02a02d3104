//! openraft's storage conformance suite against the sled log store and state machine.

use dm_storage::typ::{StorageError, TypeConfig};
use dm_storage::{LogStore, StateMachine, Store, StoreOptions};
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), &StoreOptions::default()).expect("open store");
        Ok((dir, store.log, store.state_machine))
    }
}

#[test]
fn t10_openraft_storage_suite() {
    if let Err(e) = Suite::test_all(SledBuilder) {
        panic!("openraft storage suite failed: {e}");
    }
}
