//! The location domain: the offline gazetteer (geocoding and reverse geocoding), distances
//! and ETAs, delivery zones and serviceability.
//!
//! Geometry comes from the `geo` and `geojson` crates; this module only decides policy
//! (a point on a zone's edge is served, a point in a hole is not, overlapping zones go to
//! the nearest open store).

pub mod consumers;
pub mod events;
pub mod service;

use std::sync::OnceLock;

use geo::{Intersects, Point, Validation};
use serde::Serialize;

pub use crate::distance::{eta_minutes, haversine_km};
pub use service::{LocationConfig, LocationService};

/// One gazetteer entry: a locality with its PIN code and centroid.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Locality {
    pub city: String,
    pub locality: String,
    pub pincode: String,
    pub lat: f64,
    pub lng: f64,
}

/// A geocoding candidate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    #[serde(flatten)]
    pub place: Locality,
    /// 0..=1, higher is better.
    pub score: f64,
}

const FIXTURE: &str = include_str!("../../../fixtures/localities.csv");

/// The gazetteer, parsed once from the fixture compiled into the binary.
pub fn gazetteer() -> &'static [Locality] {
    static G: OnceLock<Vec<Locality>> = OnceLock::new();
    G.get_or_init(|| parse_gazetteer(FIXTURE))
}

fn parse_gazetteer(csv: &str) -> Vec<Locality> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            match f.as_slice() {
                [city, locality, pincode, lat, lng] => Some(Locality {
                    city: (*city).to_owned(),
                    locality: (*locality).to_owned(),
                    pincode: (*pincode).to_owned(),
                    lat: lat.parse().ok()?,
                    lng: lng.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Lower case, letters and digits only, single spaces.
pub(crate) fn normalise(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// City names and their common other names.
pub(crate) const CITY_ALIASES: [(&str, &str); 4] = [
    ("bengaluru", "Bengaluru"),
    ("bangalore", "Bengaluru"),
    ("mumbai", "Mumbai"),
    ("bombay", "Mumbai"),
];

/// Free text or a PIN code → ranked candidates (best first, at most `limit`). Tolerates
/// case, spacing, punctuation, a city name in the text, and small typos.
pub fn geocode(query: &str, limit: usize) -> Vec<Candidate> {
    let q = normalise(query);
    if q.len() == 6 && q.chars().all(|c| c.is_ascii_digit()) {
        return gazetteer()
            .iter()
            .filter(|l| l.pincode == q)
            .take(limit)
            .map(|l| Candidate {
                place: l.clone(),
                score: 1.0,
            })
            .collect();
    }
    let mut city = None;
    let words: Vec<&str> = q
        .split(' ')
        .filter(|w| match CITY_ALIASES.iter().find(|(alias, _)| alias == w) {
            Some((_, c)) => {
                city = Some(*c);
                false
            }
            None => true,
        })
        .collect();
    let text = words.join(" ");
    if text.is_empty() {
        return Vec::new();
    }
    let compact = text.replace(' ', "");
    let mut out: Vec<Candidate> = gazetteer()
        .iter()
        .filter(|l| city.is_none_or(|c| l.city == c))
        .filter_map(|l| {
            let name = normalise(&l.locality);
            let name_compact = name.replace(' ', "");
            let score = if name == text || name_compact == compact {
                1.0
            } else if name.starts_with(&text) || name_compact.starts_with(&compact) {
                0.95
            } else {
                strsim::normalized_damerau_levenshtein(&name_compact, &compact)
                    .max(strsim::jaro_winkler(&name_compact, &compact) - 0.05)
            };
            (score >= 0.8).then(|| Candidate {
                place: l.clone(),
                score: (score * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.place.locality.cmp(&b.place.locality))
    });
    out.truncate(limit);
    out
}

/// The nearest locality to a point, with its distance in km.
pub fn reverse(lat: f64, lng: f64) -> Option<(Locality, f64)> {
    gazetteer()
        .iter()
        .map(|l| (l, haversine_km((lat, lng), (l.lat, l.lng))))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(l, d)| (l.clone(), (d * 1000.0).round() / 1000.0))
}

/// Parses a zone geometry: a GeoJSON Polygon or MultiPolygon (a bare geometry or a Feature),
/// valid (closed rings, no self-intersections), with longitude/latitude coordinates.
pub fn parse_zone(value: &serde_json::Value) -> Result<geo::MultiPolygon<f64>, String> {
    let gj: geojson::GeoJson = serde_json::from_value(value.clone()).map_err(|e| format!("is not GeoJSON: {e}"))?;
    let geometry = match gj {
        geojson::GeoJson::Geometry(g) => g,
        geojson::GeoJson::Feature(f) => f.geometry.ok_or("the Feature has no geometry")?,
        geojson::GeoJson::FeatureCollection(_) => {
            return Err("must be a Polygon or MultiPolygon, not a FeatureCollection".into())
        }
    };
    // RFC 7946: a linear ring has at least four positions and ends where it starts. geo
    // would close an open ring silently, so check before converting.
    let rings: Vec<&Vec<geojson::Position>> = match &geometry.value {
        geojson::GeometryValue::Polygon { coordinates } => coordinates.iter().collect(),
        geojson::GeometryValue::MultiPolygon { coordinates } => coordinates.iter().flatten().collect(),
        _ => Vec::new(),
    };
    for ring in rings {
        if ring.len() < 4 || ring.first() != ring.last() {
            return Err(
                "has a ring that is not closed (a ring needs 4 or more positions, the last equal to the first)".into(),
            );
        }
    }
    let shape: geo::Geometry<f64> = geometry
        .try_into()
        .map_err(|e| format!("is not a valid geometry: {e}"))?;
    let multi = match shape {
        geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(m) => m,
        _ => return Err("must be a Polygon or MultiPolygon".into()),
    };
    for p in &multi.0 {
        for c in p
            .exterior()
            .coords()
            .chain(p.interiors().iter().flat_map(|r| r.coords()))
        {
            if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
                return Err(format!(
                    "has a coordinate out of range ({}, {}); GeoJSON order is [longitude, latitude]",
                    c.x, c.y
                ));
            }
        }
    }
    if let Err(e) = multi.check_validation() {
        return Err(format!("is not a valid polygon: {e}"));
    }
    Ok(multi)
}

/// Whether a zone serves a point. The edge counts as inside; holes do not.
pub fn zone_serves(zone: &geo::MultiPolygon<f64>, lat: f64, lng: f64) -> bool {
    zone.intersects(&Point::new(lng, lat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_gazetteer_has_both_cities_at_locality_scale() {
        let g = gazetteer();
        assert!(g.len() >= 80);
        assert!(g.iter().any(|l| l.city == "Mumbai") && g.iter().any(|l| l.city == "Bengaluru"));
    }

    #[test]
    fn geocoding_tolerates_typos_case_spacing_and_city_names() {
        assert_eq!(geocode("Koramangla", 3)[0].place.locality, "Koramangala");
        assert_eq!(geocode("  hsr   LAYOUT, Bangalore ", 3)[0].place.locality, "HSR Layout");
        assert_eq!(geocode("indira nagar", 3)[0].place.locality, "Indiranagar");
        assert_eq!(geocode("Bandra W", 3)[0].place.locality, "Bandra West");
        assert_eq!(geocode("400050", 3)[0].place.locality, "Bandra West");
        let both = geocode("560043", 10);
        assert!(both.len() >= 3 && both.iter().all(|c| c.place.pincode == "560043"));
        assert!(geocode("Atlantis", 3).is_empty());
        assert!(geocode("Andheri bombay", 5).iter().all(|c| c.place.city == "Mumbai"));
    }

    #[test]
    fn reverse_geocoding_finds_the_nearest_locality() {
        let (l, d) = reverse(12.9352, 77.6245).unwrap();
        assert_eq!(l.locality, "Koramangala");
        assert!(d < 0.01);
        assert_eq!(reverse(19.06, 72.83).unwrap().0.locality, "Bandra West");
    }

    #[test]
    fn distances_and_etas() {
        let d = haversine_km((12.9352, 77.6245), (12.9784, 77.6408));
        assert!((d - 5.1).abs() < 0.2, "{d}");
        assert_eq!(eta_minutes(2.0, 1.4, 20.0, 4.0), 13); // 4 + 8.4 → 13
    }

    fn square(lng0: f64, lat0: f64, size: f64) -> Vec<[f64; 2]> {
        vec![
            [lng0, lat0],
            [lng0 + size, lat0],
            [lng0 + size, lat0 + size],
            [lng0, lat0 + size],
            [lng0, lat0],
        ]
    }

    #[test]
    fn zones_serve_their_inside_and_edges_but_not_their_holes() {
        let zone = parse_zone(
            &json!({"type": "Polygon", "coordinates": [square(77.60, 12.90, 0.1), square(77.64, 12.94, 0.02)]}),
        )
        .unwrap();
        assert!(zone_serves(&zone, 12.92, 77.62));
        assert!(zone_serves(&zone, 12.90, 77.65), "on the edge");
        assert!(!zone_serves(&zone, 12.95, 77.65), "in the hole");
        assert!(!zone_serves(&zone, 13.10, 77.65), "outside");
    }

    #[test]
    fn invalid_zones_are_refused_naming_the_problem() {
        let bowtie = json!({"type": "Polygon", "coordinates": [[[77.0, 12.0], [77.1, 12.1], [77.1, 12.0], [77.0, 12.1], [77.0, 12.0]]]});
        assert!(parse_zone(&bowtie).unwrap_err().contains("not a valid polygon"));
        let unclosed = json!({"type": "Polygon", "coordinates": [[[77.0, 12.0], [77.1, 12.0], [77.1, 12.1]]]});
        assert!(parse_zone(&unclosed).unwrap_err().contains("not closed"));
        let swapped = json!({"type": "Polygon", "coordinates": [square(12.9, 200.0, 0.1)]});
        assert!(parse_zone(&swapped).unwrap_err().contains("out of range"));
        assert!(parse_zone(&json!({"type": "Point", "coordinates": [77.0, 12.0]})).is_err());
        assert!(parse_zone(&json!("nonsense")).is_err());
    }
}
