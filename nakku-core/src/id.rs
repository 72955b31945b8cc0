//! Application-generated, time-ordered ids (UUIDv7) and the clock.

/// A new UUIDv7 as its 36-character string form. Ordered by creation time, so it doubles
/// as a pagination cursor and keeps B-tree inserts at the right edge.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// True when `s` looks like an id we generated (guards queries against junk cursors).
pub fn is_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// Milliseconds since the Unix epoch, UTC. Timestamps are stored as BIGINT milliseconds on
/// both backends: portable, indexable, and free of time-zone settings.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Renders stored milliseconds as RFC 3339 for the API.
pub fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Epoch milliseconds as RFC 3339 on the wire, both ways: `#[serde(with = "crate::id::rfc3339")]`.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::ms_to_rfc3339(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse_rfc3339_ms(&raw).ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {raw:?}")))
    }
}

/// [`rfc3339`] for an optional time (`null` when absent).
pub mod opt_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => super::rfc3339::serialize(ms, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| {
                super::parse_rfc3339_ms(&raw)
                    .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {raw:?}")))
            })
            .transpose()
    }
}

/// FNV-1a, 64-bit: a hash that is the same in every process and version (std's hasher is
/// randomly keyed), for fingerprints such as quote ids and idempotency request hashes.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// An RFC 3339 time as epoch milliseconds.
pub fn parse_rfc3339_ms(raw: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A date (`YYYY-MM-DD`, UTC; its first or, with `end`, last millisecond) or an RFC 3339
/// time, as epoch milliseconds (filters on lists and reports).
pub fn parse_day(raw: &str, end: bool) -> Result<i64, String> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| "must be a date YYYY-MM-DD or an RFC 3339 time".to_owned())?;
    let t = if end {
        d.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        d.and_hms_opt(0, 0, 0)
    };
    Ok(t.map(|t| t.and_utc().timestamp_millis()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order() {
        let ids: Vec<String> = (0..200).map(|_| new_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|i| is_id(i)));
    }

    #[test]
    fn timestamps_render_as_utc_rfc3339() {
        assert_eq!(ms_to_rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Times {
        #[serde(with = "rfc3339")]
        at: i64,
        #[serde(with = "opt_rfc3339")]
        gone: Option<i64>,
    }

    #[test]
    fn wire_times_round_trip_and_refuse_junk() {
        for t in [
            Times {
                at: 1_700_000_000_123,
                gone: None,
            },
            Times {
                at: 0,
                gone: Some(86_400_000),
            },
        ] {
            let v = serde_json::to_value(&t).unwrap();
            assert_eq!(serde_json::from_value::<Times>(v).unwrap(), t);
        }
        let err = serde_json::from_value::<Times>(serde_json::json!({"at": "yesterday", "gone": null})).unwrap_err();
        assert!(err.to_string().contains("not an RFC 3339 time"), "{err}");
    }
}
