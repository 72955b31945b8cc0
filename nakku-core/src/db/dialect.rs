//! The named seam between MySQL/MariaDB and SQLite. Every SQL difference lives here so
//! the stores keep one SQL codebase (habit 13 in STYLE.md).

/// Which SQL backend a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    MySql,
    Sqlite,
}

impl Dialect {
    pub fn from_url(url: &str) -> Option<Dialect> {
        if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Some(Dialect::MySql)
        } else if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else {
            None
        }
    }

    /// Directory name under `migrations/`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::MySql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// Appended to `INSERT ... VALUES (...)` to update `cols` when `key` already exists.
    /// `VALUES(c)` works on MySQL 8 and MariaDB; MySQL's newer row alias does not exist in
    /// MariaDB.
    pub fn upsert(self, key: &str, cols: &[&str]) -> String {
        match self {
            Dialect::Sqlite => {
                let set: Vec<String> = cols.iter().map(|c| format!("{c} = excluded.{c}")).collect();
                format!(" ON CONFLICT({key}) DO UPDATE SET {}", set.join(", "))
            }
            Dialect::MySql => {
                let set: Vec<String> = cols.iter().map(|c| format!("{c} = VALUES({c})")).collect();
                format!(" ON DUPLICATE KEY UPDATE {}", set.join(", "))
            }
        }
    }

    /// Row locking for claim queries. SQLite serialises writers, so it needs none.
    pub fn for_update_skip_locked(self) -> &'static str {
        match self {
            Dialect::MySql => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }

    /// Row locking for read-modify-write inside a transaction.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::MySql => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_uses_each_backends_syntax() {
        assert_eq!(
            Dialect::Sqlite.upsert("id", &["a", "b"]),
            " ON CONFLICT(id) DO UPDATE SET a = excluded.a, b = excluded.b"
        );
        assert_eq!(
            Dialect::MySql.upsert("id", &["a"]),
            " ON DUPLICATE KEY UPDATE a = VALUES(a)"
        );
    }

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(Dialect::from_url("mysql://h/db"), Some(Dialect::MySql));
        assert_eq!(Dialect::from_url("sqlite://x.db"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("postgres://h/db"), None);
    }
}
