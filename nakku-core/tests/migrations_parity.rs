//! The two migration trees must hold the same files, so MySQL and SQLite cannot drift
//! apart the way vaultwarden's did.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn mysql_and_sqlite_have_the_same_services_and_migration_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mysql = names(&root.join("mysql"));
    let sqlite = names(&root.join("sqlite"));
    assert_eq!(mysql, sqlite, "service folders differ");
    assert!(!mysql.is_empty());
    for svc in &mysql {
        let m = names(&root.join("mysql").join(svc));
        let s = names(&root.join("sqlite").join(svc));
        assert_eq!(m, s, "migrations of {svc} differ between mysql/ and sqlite/");
        for f in &m {
            assert!(
                f.len() > 5 && f[..4].chars().all(|c| c.is_ascii_digit()) && f.ends_with(".sql"),
                "{svc}/{f} is not NNNN_name.sql"
            );
        }
    }
}

#[test]
fn every_service_database_has_the_event_tables() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for backend in ["mysql", "sqlite"] {
        for svc in names(&root.join(backend)) {
            let dir = root.join(backend).join(&svc);
            let all: String = names(&dir)
                .iter()
                .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
                .collect();
            for table in ["outbox", "outbox_lease", "processed_events", "dead_letters"] {
                assert!(
                    all.contains(&format!("CREATE TABLE {table} ")),
                    "{backend}/{svc} has no {table}"
                );
            }
        }
    }
}
