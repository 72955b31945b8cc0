-- Location service (nakku_location), SQLite.

-- Dark stores as the location service knows them: a replica fed by inventory.store.updated.
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

-- Delivery zones: a GeoJSON (Multi)Polygon per store, with its bounding box for a cheap
-- first filter.
CREATE TABLE zones (
    id          TEXT    NOT NULL PRIMARY KEY,
    store_code  TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    geometry    TEXT    NOT NULL,
    min_lat     REAL    NOT NULL,
    max_lat     REAL    NOT NULL,
    min_lng     REAL    NOT NULL,
    max_lng     REAL    NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE INDEX zones_bbox ON zones (min_lat, max_lat, min_lng, max_lng);
CREATE INDEX zones_store ON zones (store_code);
