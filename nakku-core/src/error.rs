//! The core error type. It knows nothing about HTTP; nakku-server maps it to statuses.

use std::collections::BTreeMap;

/// Field name → the problems found with it, in a stable order.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Input failed validation; every offending field is named.
    #[error("{}", describe_fields(.0))]
    Validation(FieldErrors),
    /// A unique value already exists (duplicate email, phone...).
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    /// Missing, invalid or expired credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// Too many requests of this kind; try again after the given seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// Another service did not answer (or answered with a server error); retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl CoreError {
    /// One field, one message.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let mut m = FieldErrors::new();
        m.insert(field.to_owned(), vec![message.into()]);
        CoreError::Validation(m)
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        CoreError::Conflict {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

fn describe_fields(fields: &FieldErrors) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|(f, msgs)| format!("{f}: {}", msgs.join(", ")))
        .collect();
    parts.join("; ")
}

/// Collects field errors while validating a whole request, so a client hears about every
/// problem at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: FieldErrors,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.errors.entry(field.to_owned()).or_default().push(message.into());
    }

    /// Records the error of a parse result and returns its value, if any.
    pub fn check<T>(&mut self, field: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(msg) => {
                self.add(field, msg);
                None
            }
        }
    }

    /// A required field: records "is required" when absent.
    pub fn required<T>(&mut self, field: &str, v: Option<T>) -> Option<T> {
        if v.is_none() {
            self.add(field, "is required");
        }
        v
    }

    pub fn finish(self) -> Result<(), CoreError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Validation(self.errors))
        }
    }
}

/// Lets a store call turn a unique-key violation into a client error at the call site.
pub trait ResultExt<T> {
    /// `f` receives the database's message (it names the index or column).
    fn on_unique_violation(self, f: impl FnOnce(&str) -> CoreError) -> Result<T, CoreError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn on_unique_violation(self, f: impl FnOnce(&str) -> CoreError) -> Result<T, CoreError> {
        self.map_err(|e| {
            if is_unique_violation(&e) {
                let msg = match &e {
                    sqlx::Error::Database(db) => db.message().to_owned(),
                    _ => String::new(),
                };
                f(&msg)
            } else {
                CoreError::Database(e)
            }
        })
    }
}

/// True when the database could not take the query now but may later: the pool had no
/// connection in time or is closed, the connection broke, or the server refused a new
/// connection for its connection limit (MySQL/MariaDB 1040 "Too many connections", 1203
/// over the user's `max_user_connections`, 1226 over a user resource limit). These answer
/// 503 with Retry-After; everything else is a 500.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| matches!(m.number(), 1040 | 1203 | 1226)),
        _ => false,
    }
}

/// True when the statement lost a race for locks and would pass if run again: MySQL/MariaDB
/// 1213 (deadlock, the transaction rolled back) and 1205 (lock wait timeout), SQLite's
/// "database is locked" (SQLITE_BUSY).
pub fn is_contention(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|m| matches!(m.number(), 1205 | 1213))
                || matches!(db.code().as_deref(), Some("5" | "517" | "40001"))
                || db.message().contains("database is locked")
                || db.message().contains("Deadlock found")
        }
        _ => false,
    }
}

/// True when an error, anywhere in its chain, is a database error worth retrying as it is
/// ([`is_unavailable`] or [`is_contention`]): not the message's fault.
pub fn is_transient(e: &anyhow::Error) -> bool {
    let transient = |s: &sqlx::Error| is_unavailable(s) || is_contention(s);
    e.chain().any(|c| {
        c.downcast_ref::<sqlx::Error>().is_some_and(transient)
            || c.downcast_ref::<CoreError>()
                .is_some_and(|ce| matches!(ce, CoreError::Database(s) if transient(s)))
    })
}

/// True for duplicate-key errors on both MySQL/MariaDB and SQLite.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                // MySQL reports 1062 (ER_DUP_ENTRY); through the Any driver the kind is kept,
                // but check the code too in case a driver leaves it Other.
                || db.code().as_deref() == Some("23000") && db.message().contains("Duplicate entry")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consumer retries what is not the message's fault without counting it towards
    /// dead-lettering; a handler's own refusal counts.
    #[test]
    fn a_busy_or_unavailable_database_is_transient_and_a_bad_message_is_not() {
        let busy = anyhow::Error::new(CoreError::Database(sqlx::Error::PoolTimedOut)).context("applying order.created");
        assert!(is_transient(&busy));
        let io = anyhow::Error::new(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(is_transient(&io));
        assert!(!is_transient(&anyhow::anyhow!("order.created without lines")));
        assert!(!is_transient(&anyhow::Error::new(CoreError::validation(
            "sku",
            "is required"
        ))));
        assert!(!is_transient(&anyhow::Error::new(sqlx::Error::RowNotFound)));
    }
}
