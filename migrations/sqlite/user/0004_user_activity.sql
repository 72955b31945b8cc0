-- Read model of the user.activity consumer (fed by user.* events): sign-in activity per account.
CREATE TABLE user_activity (
    user_id         TEXT    NOT NULL PRIMARY KEY,
    registered_at   INTEGER NULL,
    last_login_at   INTEGER NULL,
    login_count     INTEGER NOT NULL DEFAULT 0,
    last_user_agent TEXT    NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER NULL
);
