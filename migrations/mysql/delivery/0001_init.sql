-- Delivery service (nakku_delivery), MySQL 8 / MariaDB 10.11.

-- Replica of the dark stores (inventory.store.updated), as the location service keeps it.
CREATE TABLE stores (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    code        VARCHAR(32)  NOT NULL,
    name        VARCHAR(200) NOT NULL,
    lat         DOUBLE       NOT NULL,
    lng         DOUBLE       NOT NULL,
    opens_at    VARCHAR(5)   NOT NULL,
    closes_at   VARCHAR(5)   NOT NULL,
    active      INT          NOT NULL,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    deleted_at  BIGINT       NULL,
    KEY stores_code (code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Delivery partners: accounts with the delivery_partner role, their vehicle, home store,
-- shift and last known position.
CREATE TABLE partners (
    user_id          VARCHAR(64)  NOT NULL PRIMARY KEY,
    name             VARCHAR(100) NOT NULL,
    vehicle          VARCHAR(16)  NOT NULL,
    home_store       VARCHAR(32)  NOT NULL,
    on_shift         INT          NOT NULL DEFAULT 0,
    shift_started_at BIGINT       NULL,
    lat              DOUBLE       NULL,
    lng              DOUBLE       NULL,
    position_at      BIGINT       NULL,
    created_at       BIGINT       NOT NULL,
    updated_at       BIGINT       NOT NULL,
    deleted_at       BIGINT       NULL,
    KEY partners_store (home_store, on_shift)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Recent positions per partner (trimmed to the newest few hundred and a day).
CREATE TABLE partner_positions (
    partner_id VARCHAR(64) NOT NULL,
    at         BIGINT      NOT NULL,
    lat        DOUBLE      NOT NULL,
    lng        DOUBLE      NOT NULL,
    accuracy_m DOUBLE      NULL,
    PRIMARY KEY (partner_id, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One delivery per order (order.created gives the door, order.updated the go-ahead).
-- status: awaiting (not confirmed yet) | unassigned | assigned | at_store | picked_up |
-- out_for_delivery | at_door | delivered | failed | cancelled (at_store and at_door are
-- reached by the partner's position, within the geofence).
CREATE TABLE deliveries (
    order_id       VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id        VARCHAR(64)  NOT NULL,
    store          VARCHAR(32)  NOT NULL,
    drop_lat       DOUBLE       NOT NULL,
    drop_lng       DOUBLE       NOT NULL,
    payment_kind   VARCHAR(16)  NOT NULL,
    total_paise    BIGINT       NOT NULL,
    status         VARCHAR(16)  NOT NULL,
    partner_id     VARCHAR(64)  NULL,
    otp            VARCHAR(8)   NULL,
    otp_attempts   BIGINT       NOT NULL DEFAULT 0,
    failure_reason VARCHAR(500) NULL,
    -- The promise made at confirmation: minutes to the door, and the deadline it sets.
    promised_minutes BIGINT     NULL,
    promised_by    BIGINT       NULL,
    breached       INT          NULL,
    confirmed_at   BIGINT       NULL,
    assigned_at    BIGINT       NULL,
    arrived_store_at BIGINT     NULL,
    picked_up_at   BIGINT       NULL,
    started_at     BIGINT       NULL,
    arrived_door_at BIGINT      NULL,
    delivered_at   BIGINT       NULL,
    failed_at      BIGINT       NULL,
    version        BIGINT       NOT NULL DEFAULT 1,
    created_at     BIGINT       NOT NULL,
    updated_at     BIGINT       NOT NULL,
    deleted_at     BIGINT       NULL,
    KEY deliveries_status (status, store),
    KEY deliveries_partner (partner_id, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Partners who turned a delivery down (it is not offered to them again).
CREATE TABLE delivery_rejections (
    order_id   VARCHAR(36)  NOT NULL,
    partner_id VARCHAR(64)  NOT NULL,
    reason     VARCHAR(500) NULL,
    created_at BIGINT       NOT NULL,
    PRIMARY KEY (order_id, partner_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
