//! The HTTP suite: the real services on port 0, driven through the gateway, once on SQLite
//! and once on MariaDB (each test with its own database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod addresses;
mod admin;
mod analytics;
mod auth;
mod delivery;
mod events;
mod gateway;
mod graphql;
mod inventory;
mod live;
mod location;
mod notifications;
mod openapi;
mod orders;
mod picking;
mod platform;
mod product;
mod profile;
mod shop;
mod slots;
mod tls;
