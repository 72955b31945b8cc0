-- Notification service (nakku_notification), MySQL 8 / MariaDB 10.11.

-- Who can be reached how: a replica of the accounts (user.* events).
CREATE TABLE contacts (
    user_id    VARCHAR(64)  NOT NULL PRIMARY KEY,
    email      VARCHAR(254) NULL,
    phone      VARCHAR(20)  NULL,
    name       VARCHAR(100) NULL,
    role       VARCHAR(32)  NOT NULL DEFAULT 'user',
    created_at BIGINT       NOT NULL,
    updated_at BIGINT       NOT NULL,
    deleted_at BIGINT       NULL,
    KEY contacts_role (role)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Push tokens of a shopper's devices.
CREATE TABLE devices (
    id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id    VARCHAR(64)  NOT NULL,
    token      VARCHAR(255) NOT NULL,
    platform   VARCHAR(16)  NOT NULL,
    created_at BIGINT       NOT NULL,
    updated_at BIGINT       NOT NULL,
    deleted_at BIGINT       NULL,
    UNIQUE KEY devices_token (token),
    KEY devices_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- What a user turned off (no row: on) and their quiet hours (minutes after local midnight).
CREATE TABLE preferences (
    user_id    VARCHAR(64) NOT NULL,
    channel    VARCHAR(8)  NOT NULL,
    category   VARCHAR(16) NOT NULL,
    enabled    INT         NOT NULL,
    updated_at BIGINT      NOT NULL,
    PRIMARY KEY (user_id, channel, category)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
CREATE TABLE quiet_hours (
    user_id      VARCHAR(64) NOT NULL PRIMARY KEY,
    start_minute INT         NOT NULL,
    end_minute   INT         NOT NULL,
    created_at   BIGINT      NOT NULL,
    updated_at   BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One message per event, user and channel (the unique key is the de-duplication).
-- status: pending | sent | failed (dead-lettered after the last attempt) | suppressed.
CREATE TABLE notifications (
    id            VARCHAR(36)   NOT NULL PRIMARY KEY,
    user_id       VARCHAR(64)   NOT NULL,
    event_id      VARCHAR(36)   NOT NULL,
    event_type    VARCHAR(64)   NOT NULL,
    channel       VARCHAR(8)    NOT NULL,
    category      VARCHAR(16)   NOT NULL,
    title         VARCHAR(200)  NOT NULL,
    body          VARCHAR(2000) NOT NULL,
    status        VARCHAR(16)   NOT NULL,
    reason        VARCHAR(200)  NULL,
    recipient     VARCHAR(2000) NULL,
    provider      VARCHAR(16)   NULL,
    provider_ref  VARCHAR(200)  NULL,
    attempts      BIGINT        NOT NULL DEFAULT 0,
    last_error    VARCHAR(500)  NULL,
    send_after    BIGINT        NOT NULL,
    claimed_until BIGINT        NOT NULL DEFAULT 0,
    sent_at       BIGINT        NULL,
    created_at    BIGINT        NOT NULL,
    updated_at    BIGINT        NOT NULL,
    deleted_at    BIGINT        NULL,
    UNIQUE KEY notifications_once (event_id, user_id, channel),
    KEY notifications_due (status, send_after),
    KEY notifications_user (user_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
