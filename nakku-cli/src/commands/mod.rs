pub mod bench;
pub mod events;
pub mod migrate;
pub mod serve;
pub mod up;
pub mod users;
