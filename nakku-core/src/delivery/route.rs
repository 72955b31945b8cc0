//! Route optimisation for a rider's batch: from the dark store through every drop (an open
//! path: the rider does not need to come back before the last door), minimising road
//! distance (great-circle distance × the road factor), with an ETA per drop.
//!
//! Up to [`EXACT_UP_TO`] drops the best order is found exactly (every permutation, with
//! the partial length pruning hopeless branches); beyond, nearest neighbour gives a start
//! and 2-opt (reversing any stretch that shortens the path) improves it until no reversal
//! helps. Batches in quick commerce are small, so the exact search is the usual case.

use crate::distance::haversine_km;

/// A drop: an order's door.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub id: String,
    pub lat: f64,
    pub lng: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct RouteConfig {
    pub road_factor: f64,
    pub speed_kmh: f64,
    /// Minutes at each door (parking, stairs, OTP).
    pub handover_minutes: f64,
}

/// One drop in visiting order: road km from the previous point, and minutes from departure
/// until the rider is at this door.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    pub id: String,
    pub road_km: f64,
    pub eta_minutes: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub legs: Vec<Leg>,
    pub total_road_km: f64,
}

/// Exact search up to this many drops (8! = 40,320 orders at most, pruned).
pub const EXACT_UP_TO: usize = 8;

/// Road km of visiting `order` (indices into `stops`) from `start`.
pub fn path_km(start: (f64, f64), stops: &[Stop], order: &[usize], road_factor: f64) -> f64 {
    let mut at = start;
    let mut km = 0.0;
    for &i in order {
        let next = (stops[i].lat, stops[i].lng);
        km += haversine_km(at, next);
        at = next;
    }
    km * road_factor
}

/// The best visiting order found, as a route with ETAs.
pub fn plan(start: (f64, f64), stops: &[Stop], cfg: RouteConfig) -> Route {
    let d = Distances::new(start, stops);
    let order = if stops.len() <= EXACT_UP_TO {
        exact(&d, stops.len())
    } else {
        two_opt(&d, nearest_neighbour(&d, stops.len()))
    };
    let mut legs = Vec::with_capacity(order.len());
    let (mut prev, mut minutes, mut total) = (0usize, 0.0, 0.0);
    for &i in &order {
        let km = d.between(prev, i + 1) * cfg.road_factor;
        total += km;
        minutes += km / cfg.speed_kmh * 60.0;
        legs.push(Leg {
            id: stops[i].id.clone(),
            road_km: (km * 1000.0).round() / 1000.0,
            eta_minutes: (minutes * 10.0).round() / 10.0,
        });
        minutes += cfg.handover_minutes;
        prev = i + 1;
    }
    Route {
        legs,
        total_road_km: (total * 1000.0).round() / 1000.0,
    }
}

/// Straight-line km between points: 0 is the store, `i + 1` is stop `i`.
struct Distances {
    n: usize,
    m: Vec<f64>,
}

impl Distances {
    fn new(start: (f64, f64), stops: &[Stop]) -> Distances {
        let pts: Vec<(f64, f64)> = std::iter::once(start)
            .chain(stops.iter().map(|s| (s.lat, s.lng)))
            .collect();
        let n = pts.len();
        let mut m = vec![0.0; n * n];
        for a in 0..n {
            for b in 0..n {
                m[a * n + b] = haversine_km(pts[a], pts[b]);
            }
        }
        Distances { n, m }
    }

    fn between(&self, a: usize, b: usize) -> f64 {
        self.m[a * self.n + b]
    }

    /// Length of an order of stops (0-based stop indices) from the store.
    fn length(&self, order: &[usize]) -> f64 {
        let mut prev = 0;
        let mut km = 0.0;
        for &i in order {
            km += self.between(prev, i + 1);
            prev = i + 1;
        }
        km
    }
}

fn exact(d: &Distances, n: usize) -> Vec<usize> {
    fn go(d: &Distances, path: &mut Vec<usize>, used: &mut [bool], len: f64, best: &mut (f64, Vec<usize>)) {
        if len >= best.0 {
            return;
        }
        if path.len() == used.len() {
            *best = (len, path.clone());
            return;
        }
        let prev = path.last().map_or(0, |&i| i + 1);
        for i in 0..used.len() {
            if !used[i] {
                used[i] = true;
                path.push(i);
                go(d, path, used, len + d.between(prev, i + 1), best);
                path.pop();
                used[i] = false;
            }
        }
    }
    // Nearest neighbour first gives the search a good bound to prune with.
    let start = nearest_neighbour(d, n);
    let mut best = (d.length(&start) + 1e-9, start);
    go(d, &mut Vec::with_capacity(n), &mut vec![false; n], 0.0, &mut best);
    best.1
}

fn nearest_neighbour(d: &Distances, n: usize) -> Vec<usize> {
    let mut left: Vec<usize> = (0..n).collect();
    let mut order = Vec::with_capacity(n);
    let mut at = 0;
    while !left.is_empty() {
        let (k, _) = left
            .iter()
            .enumerate()
            .min_by(|a, b| d.between(at, a.1 + 1).total_cmp(&d.between(at, b.1 + 1)))
            .unwrap_or((0, &0));
        let i = left.swap_remove(k);
        order.push(i);
        at = i + 1;
    }
    order
}

/// Reverses stretches while that shortens the open path (the store stays first).
fn two_opt(d: &Distances, mut order: Vec<usize>) -> Vec<usize> {
    let n = order.len();
    let node = |order: &[usize], k: usize| -> usize {
        // Position k in the path including the store at position 0.
        if k == 0 {
            0
        } else {
            order[k - 1] + 1
        }
    };
    let mut improved = true;
    while improved {
        improved = false;
        // Reverse path positions i..=j (1-based over stops); the edge after j may not exist.
        for i in 1..n {
            for j in (i + 1)..=n {
                let (a, b) = (node(&order, i - 1), node(&order, i));
                let c = node(&order, j);
                let before = d.between(a, b) + if j < n { d.between(c, node(&order, j + 1)) } else { 0.0 };
                let after = d.between(a, c) + if j < n { d.between(b, node(&order, j + 1)) } else { 0.0 };
                if after + 1e-12 < before {
                    order[i - 1..j].reverse();
                    improved = true;
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const CFG: RouteConfig = RouteConfig {
        road_factor: 1.4,
        speed_kmh: 20.0,
        handover_minutes: 2.0,
    };
    const STORE: (f64, f64) = (12.9716, 77.5946);

    fn stop(id: &str, lat: f64, lng: f64) -> Stop {
        Stop {
            id: id.into(),
            lat,
            lng,
        }
    }

    fn visits_each_once(route: &Route, stops: &[Stop]) -> bool {
        let mut ids: Vec<&str> = route.legs.iter().map(|l| l.id.as_str()).collect();
        ids.sort_unstable();
        let mut want: Vec<&str> = stops.iter().map(|s| s.id.as_str()).collect();
        want.sort_unstable();
        ids == want
    }

    #[test]
    fn a_zigzag_batch_is_straightened_and_beats_the_given_order() {
        // Drops along a line east of the store, given in a zigzag order.
        let stops = vec![
            stop("far", 12.9716, 77.6346),
            stop("near", 12.9716, 77.6046),
            stop("farther", 12.9716, 77.6546),
            stop("middle", 12.9716, 77.6196),
        ];
        let naive = path_km(STORE, &stops, &[0, 1, 2, 3], CFG.road_factor);
        let r = plan(STORE, &stops, CFG);
        let ids: Vec<&str> = r.legs.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["near", "middle", "far", "farther"]);
        assert!(r.total_road_km < naive * 0.6, "{} vs naive {naive}", r.total_road_km);
        // ETAs grow along the route and include the handovers before each later drop.
        assert!(r
            .legs
            .windows(2)
            .all(|w| w[1].eta_minutes >= w[0].eta_minutes + CFG.handover_minutes));
        let first_km = r.legs[0].road_km;
        assert!((r.legs[0].eta_minutes - first_km / CFG.speed_kmh * 60.0).abs() < 0.1);
    }

    #[test]
    fn no_drop_is_ever_missed_and_no_route_is_longer_than_the_given_order() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in 0..=14 {
            for _ in 0..20 {
                let stops: Vec<Stop> = (0..n)
                    .map(|i| {
                        stop(
                            &format!("d{i}"),
                            12.9716 + rng.gen_range(-0.05..0.05),
                            77.5946 + rng.gen_range(-0.05..0.05),
                        )
                    })
                    .collect();
                let r = plan(STORE, &stops, CFG);
                assert!(visits_each_once(&r, &stops), "{n} drops: {r:?}");
                let given: Vec<usize> = (0..n).collect();
                let naive = path_km(STORE, &stops, &given, CFG.road_factor);
                assert!(r.total_road_km <= naive + 1e-3, "{} > {naive}", r.total_road_km);
            }
        }
    }

    #[test]
    fn small_batches_are_solved_exactly_and_two_opt_is_never_worse_than_nearest_neighbour() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..30 {
            let n = rng.gen_range(2..=6);
            let stops: Vec<Stop> = (0..n)
                .map(|i| {
                    stop(
                        &format!("d{i}"),
                        12.9716 + rng.gen_range(-0.05..0.05),
                        77.5946 + rng.gen_range(-0.05..0.05),
                    )
                })
                .collect();
            let d = Distances::new(STORE, &stops);
            // Brute force over every order.
            let mut best = f64::MAX;
            let mut perm: Vec<usize> = (0..n).collect();
            permute(&mut perm, 0, &mut |p| best = best.min(d.length(p)));
            let r = plan(STORE, &stops, CFG);
            assert!(
                (r.total_road_km - best * CFG.road_factor).abs() < 1e-2,
                "{} vs {}",
                r.total_road_km,
                best * 1.4
            );
            let nn = nearest_neighbour(&d, n);
            assert!(d.length(&two_opt(&d, nn.clone())) <= d.length(&nn) + 1e-9);
        }
    }

    fn permute(p: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
        if k == p.len() {
            f(p);
            return;
        }
        for i in k..p.len() {
            p.swap(k, i);
            permute(p, k + 1, f);
            p.swap(k, i);
        }
    }
}
