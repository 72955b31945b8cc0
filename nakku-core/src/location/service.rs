//! Location use cases: zones (admin), serviceability, geocoding, address validation (the
//! `location.stores` consumer that keeps the store replica is in `consumers.rs`).

use geo::BoundingRect;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub use super::consumers::StoreReplica;
use super::events::AddressValidated;
use super::*;
use crate::db::{opt_text, text, Db};
use crate::error::{CoreError, Validator};
use crate::events::bus::BoxFut;
use crate::events::{outbox, Envelope};
use crate::id::{is_id, ms_to_rfc3339, new_id, now_ms};
pub use crate::ports::{AddressCheckInput, AddressChecker, AddressVerdict};
use crate::ports::{PlacePort, Serving};
use crate::rules::{check_lat, check_lng, is_open_at, parse_hhmm, parse_pincode, parse_text};
use crate::service::Service;
use crate::RequestCtx;

/// ETA settings.
#[derive(Debug, Clone)]
pub struct LocationConfig {
    /// Road distance ÷ straight-line distance.
    pub road_factor: f64,
    pub rider_speed_kmh: f64,
    pub prep_minutes: f64,
}

impl Default for LocationConfig {
    fn default() -> Self {
        LocationConfig {
            road_factor: 1.4,
            rider_speed_kmh: 20.0,
            prep_minutes: 4.0,
        }
    }
}

/// A store as replicated from the inventory service.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Store {
    pub id: String,
    pub code: String,
    pub name: String,
    pub lat: f64,
    pub lng: f64,
    pub opens_at: String,
    pub closes_at: String,
    pub active: bool,
}

/// Which store serves a point, or why none does.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Serviceability {
    pub serviceable: bool,
    /// Why not: `paused` (the store takes no orders now), `closed` or `outside_zones`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What to tell the shopper (a busy store's delay; why not).
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub road_distance_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_minutes: Option<i64>,
    /// The nearest locality of the gazetteer.
    pub near: Option<Near>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreRef {
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `open`, `busy` or `paused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<String>,
    /// For a closed store: when it opens (India time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Near {
    pub locality: String,
    pub city: String,
    pub pincode: String,
}

/// Straight-line and road distance, and the delivery ETA over it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Distance {
    pub distance_km: f64,
    pub road_distance_km: f64,
    pub eta_minutes: i64,
}

/// An address check: problems by field, and the point's serviceability.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressCheck {
    pub valid: bool,
    /// Messages by field; empty when valid.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    pub problems: crate::error::FieldErrors,
    pub serviceability: Option<Serviceability>,
}

/// A delivery zone.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Zone {
    pub id: String,
    pub store: String,
    pub name: String,
    pub geometry: serde_json::Value,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ZoneInput {
    #[schema(schema_with = crate::rules::store_code, required = true)]
    pub store: Option<String>,
    #[schema(schema_with = crate::rules::text::<200>, required = true)]
    pub name: Option<String>,
    #[schema(schema_with = polygon_schema, required = true)]
    pub geometry: Option<serde_json::Value>,
    pub active: Option<bool>,
}

/// A zone's shape as the OpenAPI document shows it: a GeoJSON Polygon, positions as
/// `[longitude, latitude]`. [`parse_zone`] also takes a MultiPolygon or a Feature, and
/// needs each ring to end where it starts, which a JSON Schema cannot say.
fn polygon_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let position = ArrayBuilder::new()
        .prefix_items([crate::rules::longitude(), crate::rules::latitude()])
        .min_items(Some(2))
        .max_items(Some(2));
    let ring = ArrayBuilder::new().items(position).min_items(Some(4));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("type", crate::rules::one_of(&["Polygon"]))
        .required("type")
        .property("coordinates", ArrayBuilder::new().items(ring).min_items(Some(1)))
        .required("coordinates")
        .build()
}

#[derive(Debug, Clone)]
pub struct LocationService {
    db: Db,
    cfg: LocationConfig,
}

fn zone_from_row(r: &AnyRow) -> Result<Zone, CoreError> {
    let active: i64 = r.try_get("active")?;
    Ok(Zone {
        id: text(r, "id")?,
        store: text(r, "store_code")?,
        name: text(r, "name")?,
        geometry: serde_json::from_str(&text(r, "geometry")?).map_err(|e| CoreError::Internal(e.into()))?,
        active: active != 0,
        created_at: ms_to_rfc3339(r.try_get("created_at")?),
        updated_at: ms_to_rfc3339(r.try_get("updated_at")?),
    })
}

fn store_from_row(r: &AnyRow) -> Result<Store, sqlx::Error> {
    store_from_columns(r, "")
}

/// A store from columns named with `prefix` (`s_id`, `s_code`... in a join).
fn store_from_columns(r: &AnyRow, prefix: &str) -> Result<Store, sqlx::Error> {
    let col = |c: &str| format!("{prefix}{c}");
    let active: i64 = r.try_get(col("active").as_str())?;
    Ok(Store {
        id: text(r, &col("id"))?,
        code: text(r, &col("code"))?,
        name: text(r, &col("name"))?,
        lat: r.try_get(col("lat").as_str())?,
        lng: r.try_get(col("lng").as_str())?,
        opens_at: text(r, &col("opens_at"))?,
        closes_at: text(r, &col("closes_at"))?,
        active: active != 0,
    })
}

const ZONE_COLS: &str = "id, store_code, name, geometry, active, created_at, updated_at";
const STORE_COLS: &str = "id, code, name, lat, lng, opens_at, closes_at, active";

/// Checks a coordinate pair from a query or body, naming the fields.
pub fn check_point(v: &mut Validator, lat: Option<f64>, lng: Option<f64>) -> Option<(f64, f64)> {
    let lat = v.required("lat", lat).and_then(|x| v.check("lat", check_lat(x)));
    let lng = v.required("lng", lng).and_then(|x| v.check("lng", check_lng(x)));
    lat.zip(lng)
}

/// The zones whose box holds a point (binds: lat, lat, lng, lng), with their stores and the
/// stores' load, in one read: what serviceability reads (`nakku bench orders` replays it).
pub const ZONES_AROUND: &str = "SELECT z.id, z.store_code, z.name, z.geometry, z.active, z.created_at, z.updated_at, \
     s.id AS s_id, s.code AS s_code, s.name AS s_name, s.lat AS s_lat, s.lng AS s_lng, \
     s.opens_at AS s_opens_at, s.closes_at AS s_closes_at, s.active AS s_active, \
     l.status AS load_status, l.extra_minutes AS load_extra \
     FROM zones z JOIN stores s ON s.code = z.store_code AND s.deleted_at IS NULL \
     LEFT JOIN store_load l ON l.store = s.code \
     WHERE z.deleted_at IS NULL AND z.active = 1 \
     AND z.min_lat <= ? AND z.max_lat >= ? AND z.min_lng <= ? AND z.max_lng >= ?";

impl LocationService {
    pub fn new(db: Db, cfg: LocationConfig) -> Self {
        LocationService { db, cfg }
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, CoreError> {
        Ok(self.db.pool().acquire().await?)
    }

    pub async fn stores(&self) -> Result<Vec<Store>, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {STORE_COLS} FROM stores WHERE deleted_at IS NULL ORDER BY code"
        ))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok(rows.iter().map(store_from_row).collect::<Result<_, _>>()?)
    }

    async fn store_by_code(&self, conn: &mut AnyConnection, code: &str) -> Result<Option<Store>, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {STORE_COLS} FROM stores WHERE code = ? AND deleted_at IS NULL"
        ))
        .bind(code.trim().to_ascii_uppercase())
        .fetch_optional(conn)
        .await?;
        Ok(row.map(|r| store_from_row(&r)).transpose()?)
    }

    fn validate_zone(
        v: &mut Validator,
        geometry: Option<serde_json::Value>,
    ) -> Option<(geo::MultiPolygon<f64>, serde_json::Value)> {
        let g = geometry?;
        let shape = v.check("geometry", parse_zone(&g))?;
        Some((shape, g))
    }

    pub async fn create_zone(&self, input: ZoneInput) -> Result<Zone, CoreError> {
        let mut v = Validator::new();
        let store = v.required("store", input.store);
        let name = v
            .required("name", input.name)
            .and_then(|n| v.check("name", parse_text(&n, 200)));
        let geometry = v
            .required("geometry", input.geometry.clone())
            .and_then(|g| Self::validate_zone(&mut v, Some(g)));
        v.finish()?;
        let (Some(store), Some(name), Some((shape, g))) = (store, name, geometry) else {
            return Err(CoreError::Internal(anyhow::anyhow!("validated fields missing")));
        };
        let mut conn = self.conn().await?;
        let store = self.store_by_code(&mut conn, &store).await?.ok_or_else(|| {
            CoreError::validation(
                "store",
                "is not a known store (create it in the inventory service first)",
            )
        })?;
        let rect = shape
            .bounding_rect()
            .ok_or_else(|| CoreError::validation("geometry", "is empty"))?;
        let now = now_ms();
        let id = new_id();
        sqlx::query(
            "INSERT INTO zones (id, store_code, name, geometry, min_lat, max_lat, min_lng, max_lng, active, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&store.code)
        .bind(&name)
        .bind(g.to_string())
        .bind(rect.min().y)
        .bind(rect.max().y)
        .bind(rect.min().x)
        .bind(rect.max().x)
        .bind(i64::from(input.active.unwrap_or(true)))
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        drop(conn);
        self.zone(&id).await
    }

    pub async fn zone(&self, id: &str) -> Result<Zone, CoreError> {
        if !is_id(id) {
            return Err(CoreError::NotFound("zone".to_owned()));
        }
        let row = sqlx::query(&format!(
            "SELECT {ZONE_COLS} FROM zones WHERE id = ? AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&mut *self.conn().await?)
        .await?
        .ok_or_else(|| CoreError::NotFound("zone".to_owned()))?;
        zone_from_row(&row)
    }

    pub async fn zones(&self, store: Option<&str>) -> Result<Vec<Zone>, CoreError> {
        let mut qb =
            sqlx::QueryBuilder::<sqlx::Any>::new(format!("SELECT {ZONE_COLS} FROM zones WHERE deleted_at IS NULL"));
        if let Some(s) = store {
            qb.push(" AND store_code = ").push_bind(s.trim().to_ascii_uppercase());
        }
        qb.push(" ORDER BY store_code, id");
        qb.build()
            .fetch_all(&mut *self.conn().await?)
            .await?
            .iter()
            .map(zone_from_row)
            .collect()
    }

    pub async fn update_zone(&self, id: &str, input: ZoneInput) -> Result<Zone, CoreError> {
        let mut v = Validator::new();
        let name = input.name.and_then(|n| v.check("name", parse_text(&n, 200)));
        let geometry = Self::validate_zone(&mut v, input.geometry);
        if input.store.is_some() {
            v.add("store", "cannot change; create a zone for the other store instead");
        }
        v.finish()?;
        let mut z = self.zone(id).await?;
        let (shape, g) = match geometry {
            Some(x) => x,
            None => (
                parse_zone(&z.geometry).map_err(|e| CoreError::Internal(anyhow::anyhow!(e)))?,
                z.geometry.clone(),
            ),
        };
        let rect = shape
            .bounding_rect()
            .ok_or_else(|| CoreError::validation("geometry", "is empty"))?;
        z.name = name.unwrap_or(z.name);
        z.active = input.active.unwrap_or(z.active);
        sqlx::query(
            "UPDATE zones SET name = ?, geometry = ?, min_lat = ?, max_lat = ?, min_lng = ?, max_lng = ?, active = ?, updated_at = ? \
             WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(&z.name)
        .bind(g.to_string())
        .bind(rect.min().y)
        .bind(rect.max().y)
        .bind(rect.min().x)
        .bind(rect.max().x)
        .bind(i64::from(z.active))
        .bind(now_ms())
        .bind(id)
        .execute(&mut *self.conn().await?)
        .await?;
        self.zone(id).await
    }

    pub async fn delete_zone(&self, id: &str) -> Result<(), CoreError> {
        self.zone(id).await?;
        let now = now_ms();
        sqlx::query("UPDATE zones SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL")
            .bind(now)
            .bind(now)
            .bind(id)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    /// Which store serves a point: among the active zones containing it (edges included,
    /// holes excluded), the nearest store that is open now; else why not.
    pub async fn serviceability(&self, lat: f64, lng: f64) -> Result<Serviceability, CoreError> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(ZONES_AROUND)
            .bind(lat)
            .bind(lat)
            .bind(lng)
            .bind(lng)
            .fetch_all(&mut *conn)
            .await?;
        let now = now_ms();
        let mut open = Vec::new();
        let mut closed = Vec::new();
        for r in &rows {
            let zone = zone_from_row(r)?;
            let Ok(shape) = parse_zone(&zone.geometry) else {
                continue;
            };
            if !zone_serves(&shape, lat, lng) {
                continue;
            }
            let store = store_from_columns(r, "s_")?;
            if !store.active {
                continue;
            }
            let load = match opt_text(r, "load_status")? {
                Some(status) => (status, r.try_get::<Option<i64>, _>("load_extra")?.unwrap_or(0)),
                None => ("open".to_owned(), 0),
            };
            let km = haversine_km((lat, lng), (store.lat, store.lng));
            let is_open = match (parse_hhmm(&store.opens_at), parse_hhmm(&store.closes_at)) {
                (Ok(o), Ok(c)) => is_open_at(o, c, now),
                _ => false,
            };
            if is_open {
                open.push((km, store, zone, load))
            } else {
                closed.push((km, store, zone, load))
            }
        }
        type Candidate = (f64, Store, Zone, (String, i64));
        let by_distance = |a: &Candidate, b: &Candidate| a.0.total_cmp(&b.0);
        open.sort_by(by_distance);
        closed.sort_by(by_distance);
        let locality = reverse(lat, lng).map(|(l, _)| Near {
            locality: l.locality,
            city: l.city,
            pincode: l.pincode,
        });
        // The nearest open store that takes orders now; a busy one promises later.
        let mut paused = None;
        for (km, store, zone, (load, extra)) in open {
            if load == "paused" {
                paused.get_or_insert(store);
                continue;
            }
            let road_km = km * self.cfg.road_factor;
            let eta = eta_minutes(
                km,
                self.cfg.road_factor,
                self.cfg.rider_speed_kmh,
                self.cfg.prep_minutes,
            );
            return Ok(Serviceability {
                serviceable: true,
                reason: None,
                message: crate::delivery::events::load_message(&store.name, &load, extra),
                store: Some(StoreRef {
                    code: store.code,
                    name: store.name,
                    id: Some(store.id),
                    load: Some(load),
                    opens_at: None,
                }),
                zone_id: Some(zone.id),
                distance_km: Some((km * 100.0).round() / 100.0),
                road_distance_km: Some((road_km * 100.0).round() / 100.0),
                eta_minutes: Some(eta + extra),
                delay_minutes: Some(extra),
                near: locality,
            });
        }
        let refused = |reason: &str, message: String, store: Option<StoreRef>, near: Option<Near>| Serviceability {
            serviceable: false,
            reason: Some(reason.to_owned()),
            message: Some(message),
            store,
            zone_id: None,
            distance_km: None,
            road_distance_km: None,
            eta_minutes: None,
            delay_minutes: None,
            near,
        };
        if let Some(store) = paused {
            let message = crate::delivery::events::load_message(&store.name, "paused", 0).unwrap_or_default();
            let r = StoreRef {
                code: store.code,
                name: store.name,
                id: None,
                load: Some("paused".to_owned()),
                opens_at: None,
            };
            return Ok(refused("paused", message, Some(r), locality));
        }
        if let Some((_, store, _, _)) = closed.into_iter().next() {
            let message = format!(
                "{} is closed now; it opens at {} (India time)",
                store.name, store.opens_at
            );
            let r = StoreRef {
                code: store.code,
                name: store.name,
                id: None,
                load: None,
                opens_at: Some(store.opens_at),
            };
            return Ok(refused("closed", message, Some(r), locality));
        }
        Ok(refused(
            "outside_zones",
            "no dark store delivers here yet".to_owned(),
            None,
            locality,
        ))
    }

    /// Distance, road distance and ETA between two points.
    pub fn distance(&self, from: (f64, f64), to: (f64, f64)) -> Distance {
        let km = haversine_km(from, to);
        Distance {
            distance_km: (km * 100.0).round() / 100.0,
            road_distance_km: (km * self.cfg.road_factor * 100.0).round() / 100.0,
            eta_minutes: eta_minutes(
                km,
                self.cfg.road_factor,
                self.cfg.rider_speed_kmh,
                self.cfg.prep_minutes,
            ),
        }
    }

    /// Checks an address: required fields, PIN code format and its city in the gazetteer,
    /// coordinates on the globe and inside a delivery zone. Emits `location.validated`.
    pub async fn validate_address(
        &self,
        ctx: &RequestCtx,
        input: AddressCheckInput,
    ) -> Result<AddressCheck, CoreError> {
        let mut v = Validator::new();
        v.required("line1", input.line1.as_deref())
            .and_then(|s| v.check("line1", parse_text(s, 200)));
        let city = v
            .required("city", input.city.as_deref())
            .and_then(|s| v.check("city", parse_text(s, 100)));
        let pincode = v
            .required("pincode", input.pincode.as_deref())
            .and_then(|p| v.check("pincode", parse_pincode(p)));
        let point = check_point(&mut v, input.lat, input.lng);
        let mut problems = match v.finish() {
            Ok(()) => crate::error::FieldErrors::new(),
            Err(CoreError::Validation(f)) => f,
            Err(e) => return Err(e),
        };
        if let (Some(pin), Some(city)) = (&pincode, &city) {
            let known: Vec<&Locality> = gazetteer().iter().filter(|l| &l.pincode == pin).collect();
            let city_norm = normalise(city);
            let alias = CITY_ALIASES
                .iter()
                .find(|(a, _)| *a == city_norm)
                .map(|(_, c)| normalise(c))
                .unwrap_or(city_norm);
            if let Some(first) = known.first() {
                if normalise(&first.city) != alias {
                    problems
                        .entry("pincode".into())
                        .or_default()
                        .push(format!("belongs to {}, not {city}", first.city));
                }
            }
        }
        let service = match point {
            Some((lat, lng)) => Some(self.serviceability(lat, lng).await?),
            None => None,
        };
        if service
            .as_ref()
            .is_some_and(|s| !s.serviceable && s.reason.as_deref() == Some("outside_zones"))
        {
            problems
                .entry("lat".into())
                .or_default()
                .push("the location is outside every delivery zone".into());
        }
        let result = AddressCheck {
            valid: problems.is_empty(),
            problems,
            serviceability: service,
        };
        let env = Envelope::of(
            Service::Location,
            input.pincode.as_deref().unwrap_or("unknown"),
            &ctx.request_id,
            &AddressValidated {
                valid: result.valid,
                pincode: input.pincode.clone(),
                city: input.city.clone(),
                lat: input.lat,
                lng: input.lng,
                problems: result.problems.clone(),
            },
        );
        let mut tx = self.db.begin().await?;
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(result)
    }
}

impl AddressVerdict {
    /// Reads the `data` of `validate-address` (in-process or over HTTP).
    pub fn from_json(v: &serde_json::Value) -> Self {
        serde_json::from_value::<AddressCheck>(v.clone())
            .map(Self::from)
            .unwrap_or_default()
    }
}

impl From<AddressCheck> for AddressVerdict {
    fn from(c: AddressCheck) -> Self {
        let s = c.serviceability.as_ref();
        AddressVerdict {
            problems: c.problems,
            // A store pausing orders for a few minutes does not make the address unserved.
            serviceable: s.map(|s| s.serviceable || s.reason.as_deref() == Some("paused")),
            store: s.and_then(|s| s.store.as_ref()).map(|st| st.code.clone()),
        }
    }
}

impl AddressChecker for LocationService {
    fn check<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        _user_id: &'a str,
        input: AddressCheckInput,
    ) -> BoxFut<'a, Result<AddressVerdict, CoreError>> {
        Box::pin(async move { Ok(AddressVerdict::from(self.validate_address(ctx, input).await?)) })
    }
}

impl Serving {
    /// Reads the `data` of `GET /locations/serviceability` (in-process or over HTTP).
    pub fn from_json(v: &serde_json::Value) -> Self {
        match serde_json::from_value::<Serviceability>(v.clone()) {
            Ok(s) => Self::from(s),
            Err(_) => Serving {
                serviceable: false,
                store: None,
                road_distance_km: 0.0,
                eta_minutes: 0,
                message: None,
            },
        }
    }
}

impl From<Serviceability> for Serving {
    fn from(s: Serviceability) -> Self {
        Serving {
            serviceable: s.serviceable,
            store: s.store.map(|st| st.code),
            road_distance_km: s.road_distance_km.unwrap_or(0.0),
            eta_minutes: s.eta_minutes.unwrap_or(0),
            message: s.message,
        }
    }
}

impl PlacePort for LocationService {
    fn serving<'a>(&'a self, _ctx: &'a RequestCtx, lat: f64, lng: f64) -> BoxFut<'a, Result<Serving, CoreError>> {
        crate::trace::as_service("location", async move {
            Ok(Serving::from(self.serviceability(lat, lng).await?))
        })
    }
}
