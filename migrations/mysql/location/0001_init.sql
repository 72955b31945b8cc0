-- Location service (nakku_location), MySQL 8 / MariaDB 10.11.

-- Dark stores as the location service knows them: a replica fed by inventory.store.updated.
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

-- Delivery zones: a GeoJSON (Multi)Polygon per store, with its bounding box for a cheap
-- first filter.
CREATE TABLE zones (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    store_code  VARCHAR(32)  NOT NULL,
    name        VARCHAR(200) NOT NULL,
    geometry    MEDIUMTEXT   NOT NULL,
    min_lat     DOUBLE       NOT NULL,
    max_lat     DOUBLE       NOT NULL,
    min_lng     DOUBLE       NOT NULL,
    max_lng     DOUBLE       NOT NULL,
    active      INT          NOT NULL DEFAULT 1,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    deleted_at  BIGINT       NULL,
    KEY zones_bbox (min_lat, max_lat, min_lng, max_lng),
    KEY zones_store (store_code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
