pub mod migrate;
pub mod serve;
pub mod up;
pub mod users;
