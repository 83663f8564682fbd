//! Setup shared by the browser test files: each test opens its own database and deletes it at the end.

use twain_client::random::new_id;
use twain_client::storage::Storage;

/// A database name no other test uses.
pub fn db_name(test: &str) -> String {
    format!("twain-test-{test}-{}", new_id())
}

pub async fn open(name: &str) -> Storage {
    Storage::open_named(name).await.expect("open database")
}

pub async fn cleanup(storage: Storage, name: &str) {
    drop(storage);
    Storage::delete_database(name)
        .await
        .expect("delete database");
}
