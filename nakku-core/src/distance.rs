//! Distances and delivery-time promises between points, shared by the location service
//! (serviceability, ETAs) and the delivery service (assignment, promises, routes). A leaf
//! module on top of the `geo` crate.

use geo::{Distance, Haversine, Point};

/// Great-circle distance in km between two `(lat, lng)` points.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    Haversine.distance(Point::new(a.1, a.0), Point::new(b.1, b.0)) / 1000.0
}

/// A delivery-time promise: road distance (straight line × road factor) at the rider's
/// average speed, plus the minutes to pick and pack, rounded up.
pub fn eta_minutes(km: f64, road_factor: f64, speed_kmh: f64, prep_minutes: f64) -> i64 {
    (prep_minutes + km * road_factor / speed_kmh * 60.0).ceil() as i64
}
