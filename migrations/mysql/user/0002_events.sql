-- Event plumbing every service database carries (ARCHITECTURE "Events").

-- One relay instance publishes a database's outbox at a time (keeps seq order); standbys
-- take over when the lease lapses.
CREATE TABLE outbox_lease (
    name       VARCHAR(64)  NOT NULL PRIMARY KEY,
    holder     VARCHAR(100) NOT NULL,
    expires_at BIGINT       NOT NULL,
    updated_at BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Consumers record each event id they applied, in the same transaction as the effect.
CREATE TABLE processed_events (
    consumer     VARCHAR(100) NOT NULL,
    event_id     VARCHAR(36)  NOT NULL,
    topic        VARCHAR(200) NOT NULL,
    partition_no INT          NOT NULL,
    offset_no    BIGINT       NOT NULL,
    processed_at BIGINT       NOT NULL,
    PRIMARY KEY (consumer, event_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Messages a consumer gave up on, with the reason.
CREATE TABLE dead_letters (
    id           VARCHAR(36)   NOT NULL PRIMARY KEY,
    consumer     VARCHAR(100)  NOT NULL,
    event_id     VARCHAR(36)   NULL,
    event_type   VARCHAR(100)  NULL,
    topic        VARCHAR(200)  NOT NULL,
    partition_no INT           NOT NULL,
    offset_no    BIGINT        NOT NULL,
    msg_key      VARCHAR(200)  NULL,
    payload      MEDIUMTEXT    NOT NULL,
    error        VARCHAR(2000) NOT NULL,
    attempts     INT           NOT NULL,
    retried_at   BIGINT        NULL,
    created_at   BIGINT        NOT NULL,
    updated_at   BIGINT        NOT NULL,
    deleted_at   BIGINT        NULL,
    KEY dead_letters_consumer (consumer, deleted_at, retried_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

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
