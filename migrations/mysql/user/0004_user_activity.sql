-- Read model of the user.activity consumer (fed by user.* events): sign-in activity per account.
CREATE TABLE user_activity (
    user_id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    registered_at   BIGINT       NULL,
    last_login_at   BIGINT       NULL,
    login_count     BIGINT       NOT NULL DEFAULT 0,
    last_user_agent VARCHAR(255) NULL,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    deleted_at      BIGINT       NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
