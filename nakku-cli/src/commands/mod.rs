pub mod bench;
pub mod events;
pub mod events_bench;
pub mod inventory_bench;
pub mod migrate;
pub mod serve;
pub mod up;
pub mod users;
