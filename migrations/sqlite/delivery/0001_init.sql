-- Delivery service (nakku_delivery), SQLite.

-- Replica of the dark stores (inventory.store.updated), as the location service keeps it.
CREATE TABLE stores (
    id          TEXT    NOT NULL PRIMARY KEY,
    code        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    lat         REAL    NOT NULL,
    lng         REAL    NOT NULL,
    opens_at    TEXT    NOT NULL,
    closes_at   TEXT    NOT NULL,
    active      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE INDEX stores_code ON stores (code);

-- Delivery partners: accounts with the delivery_partner role, their vehicle, home store,
-- shift and last known position.
CREATE TABLE partners (
    user_id          TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    vehicle          TEXT    NOT NULL,
    home_store       TEXT    NOT NULL,
    on_shift         INTEGER NOT NULL DEFAULT 0,
    shift_started_at INTEGER NULL,
    lat              REAL    NULL,
    lng              REAL    NULL,
    position_at      INTEGER NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER NULL
);
CREATE INDEX partners_store ON partners (home_store, on_shift);

-- Recent positions per partner (trimmed to the newest few hundred and a day).
CREATE TABLE partner_positions (
    partner_id TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    lat        REAL    NOT NULL,
    lng        REAL    NOT NULL,
    accuracy_m REAL    NULL,
    PRIMARY KEY (partner_id, at)
);

-- One delivery per order (order.created gives the door, order.updated the go-ahead).
-- status: awaiting (not confirmed yet) | unassigned | assigned | at_store | picked_up |
-- out_for_delivery | at_door | delivered | failed | cancelled (at_store and at_door are
-- reached by the partner's position, within the geofence).
CREATE TABLE deliveries (
    order_id       TEXT    NOT NULL PRIMARY KEY,
    user_id        TEXT    NOT NULL,
    store          TEXT    NOT NULL,
    drop_lat       REAL    NOT NULL,
    drop_lng       REAL    NOT NULL,
    payment_kind   TEXT    NOT NULL,
    total_paise    INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    partner_id     TEXT    NULL,
    otp            TEXT    NULL,
    otp_attempts   INTEGER NOT NULL DEFAULT 0,
    failure_reason TEXT    NULL,
    -- The promise made at confirmation: minutes to the door, and the deadline it sets.
    promised_minutes INTEGER NULL,
    promised_by    INTEGER NULL,
    breached       INTEGER NULL,
    confirmed_at   INTEGER NULL,
    assigned_at    INTEGER NULL,
    arrived_store_at INTEGER NULL,
    picked_up_at   INTEGER NULL,
    started_at     INTEGER NULL,
    arrived_door_at INTEGER NULL,
    delivered_at   INTEGER NULL,
    failed_at      INTEGER NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER NULL
);
CREATE INDEX deliveries_status ON deliveries (status, store);
CREATE INDEX deliveries_partner ON deliveries (partner_id, status);

-- Partners who turned a delivery down (it is not offered to them again).
CREATE TABLE delivery_rejections (
    order_id   TEXT    NOT NULL,
    partner_id TEXT    NOT NULL,
    reason     TEXT    NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (order_id, partner_id)
);
