-- Event plumbing every service database carries (ARCHITECTURE "Events"). One file,
-- linked into each service's migrations, so the services cannot drift apart.

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

-- Transactional outbox (ARCHITECTURE "Events"): rows are written in the same transaction
-- as the state change; the relay publishes them in seq order and marks them sent.
CREATE TABLE outbox (
    seq            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id             VARCHAR(36)  NOT NULL,
    event_type     VARCHAR(100) NOT NULL,
    source         VARCHAR(32)  NOT NULL,
    aggregate_id   VARCHAR(64)  NOT NULL,
    correlation_id VARCHAR(128) NOT NULL,
    version        INT          NOT NULL,
    occurred_at    BIGINT       NOT NULL,
    payload        MEDIUMTEXT   NOT NULL,
    created_at     BIGINT       NOT NULL,
    published_at   BIGINT       NULL,
    attempts       INT          NOT NULL DEFAULT 0,
    last_error     VARCHAR(2000) NULL,
    UNIQUE KEY outbox_id (id),
    KEY outbox_unpublished (published_at, seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
