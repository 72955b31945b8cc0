-- User service (nakku_user), MySQL 8 / MariaDB 10.11.
-- Timestamps are BIGINT milliseconds since the epoch (UTC); ids are UUIDv7 strings.
-- Flags are INT and long text is VARCHAR where sqlx's Any driver has to read it
-- (it cannot read TINYINT, DATETIME or DECIMAL).

CREATE TABLE users (
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    email         VARCHAR(254) NOT NULL,
    phone         VARCHAR(20)  NOT NULL,
    name          VARCHAR(200) NOT NULL,
    password_hash VARCHAR(100) NOT NULL,
    role          VARCHAR(32)  NOT NULL DEFAULT 'user',
    created_at    BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL,
    deleted_at    BIGINT       NULL,
    -- NULL once deleted, so a deleted account frees its email and phone (unique indexes
    -- ignore NULLs); the same rule as SQLite's partial indexes.
    email_live    VARCHAR(254) AS (CASE WHEN deleted_at IS NULL THEN email END) STORED,
    phone_live    VARCHAR(20)  AS (CASE WHEN deleted_at IS NULL THEN phone END) STORED,
    UNIQUE KEY users_email_live (email_live),
    UNIQUE KEY users_phone_live (phone_live),
    KEY users_role (role, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE refresh_tokens (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id     VARCHAR(36)  NOT NULL,
    family_id   VARCHAR(36)  NOT NULL,
    token_hash  VARCHAR(64)  NOT NULL,
    expires_at  BIGINT       NOT NULL,
    revoked_at  BIGINT       NULL,
    user_agent  VARCHAR(255) NULL,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    deleted_at  BIGINT       NULL,
    UNIQUE KEY refresh_tokens_hash (token_hash),
    KEY refresh_tokens_user (user_id),
    KEY refresh_tokens_family (family_id),
    CONSTRAINT refresh_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE addresses (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id     VARCHAR(36)  NOT NULL,
    label       VARCHAR(50)  NOT NULL,
    line1       VARCHAR(200) NOT NULL,
    line2       VARCHAR(200) NULL,
    city        VARCHAR(100) NOT NULL,
    pincode     VARCHAR(6)   NOT NULL,
    lat         DOUBLE       NOT NULL,
    lng         DOUBLE       NOT NULL,
    is_default  INT          NOT NULL DEFAULT 0,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    deleted_at  BIGINT       NULL,
    KEY addresses_user (user_id, deleted_at),
    CONSTRAINT addresses_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
