//! Location service routes (port 8089): serviceability, geocoding, distances, address
//! validation (public or signed in) and delivery zones (admin).

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::error::Validator;
use nakku_core::gateway::Access::{Admin, Public, Signed};
use nakku_core::location::service::{
    check_point, AddressCheck, AddressCheckInput, Distance, Serviceability, Store, Zone, ZoneInput,
};
use nakku_core::location::{geocode, reverse, Candidate, LocationService};
use nakku_core::rules;
use nakku_core::service::Service;
use serde::Deserialize;

use crate::answer::{created, ok, ApiResult, Deleted, Page, DELETED};
use crate::api::Api;
use crate::error::ApiError;
use crate::extract::{AppJson, AppQuery, AuthUser, Ctx};

#[derive(Clone)]
pub struct LocationState {
    pub svc: Arc<LocationService>,
    pub jwt: JwtKeys,
}

impl FromRef<LocationState> for JwtKeys {
    fn from_ref(s: &LocationState) -> JwtKeys {
        s.jwt.clone()
    }
}

/// The location service's endpoints.
pub fn api() -> Api<LocationState> {
    const ZONE: &[(&str, &str)] = &[("id", "$response.body#/data/id")];
    Api::new(Service::Location)
        .get(
            "locations/serviceability",
            "checkServiceability",
            Public,
            serviceability,
        )
        .get("locations/geocode", "geocode", Public, geocode_handler)
        .get("locations/reverse", "reverseGeocode", Public, reverse_handler)
        .get("locations/distance", "getDistance", Public, distance)
        .post(
            "locations/validate-address",
            "validateAddress",
            Signed,
            validate_address,
        )
        .get("locations/stores", "listStoreLocations", Admin, stores)
        .get("locations/zones", "listZones", Admin, list_zones)
        .post("locations/zones", "createZone", Admin, create_zone)
        .link("getZone", ZONE)
        .link("updateZone", ZONE)
        .link("deleteZone", ZONE)
        .get("locations/zones/{id}", "getZone", Admin, get_zone)
        .patch("locations/zones/{id}", "updateZone", Admin, update_zone)
        .delete("locations/zones/{id}", "deleteZone", Admin, delete_zone)
}

pub fn router(svc: Arc<LocationService>, jwt: JwtKeys) -> Router {
    api().router().with_state(LocationState { svc, jwt })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct PointQuery {
    #[param(value_type = f64, minimum = -90.0, maximum = 90.0, required = true)]
    lat: Option<f64>,
    #[param(value_type = f64, minimum = -180.0, maximum = 180.0, required = true)]
    lng: Option<f64>,
}

fn point(q: PointQuery) -> Result<(f64, f64), ApiError> {
    let mut v = Validator::new();
    let p = check_point(&mut v, q.lat, q.lng);
    v.finish()?;
    p.ok_or_else(|| ApiError::internal("validated point missing"))
}

async fn serviceability(
    State(s): State<LocationState>,
    AppQuery(q): AppQuery<PointQuery>,
) -> ApiResult<Serviceability> {
    let (lat, lng) = point(q)?;
    ok(s.svc.serviceability(lat, lng).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct GeocodeQuery {
    #[param(value_type = String, min_length = 1, max_length = 200, pattern = r"\S", required = true)]
    q: Option<String>,
    limit: Option<usize>,
}

async fn geocode_handler(AppQuery(q): AppQuery<GeocodeQuery>) -> ApiResult<Page<Candidate>> {
    let text = q.q.unwrap_or_default();
    if text.trim().is_empty() || text.chars().count() > 200 {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "q",
            "give a place name or a PIN code (at most 200 characters)",
        ));
    }
    let limit = q.limit.unwrap_or(5).clamp(1, 20);
    ok(Page::all(geocode(&text, limit)))
}

async fn reverse_handler(AppQuery(q): AppQuery<PointQuery>) -> ApiResult<Reverse> {
    let (lat, lng) = point(q)?;
    let (place, km) = reverse(lat, lng).ok_or_else(|| ApiError::not_found("locality"))?;
    ok(Reverse { place, distance_km: km })
}

/// The nearest locality of the gazetteer to a point, and how far it is.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Reverse {
    place: nakku_core::location::Locality,
    distance_km: f64,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct DistanceQuery {
    #[param(value_type = f64, minimum = -90.0, maximum = 90.0, required = true)]
    from_lat: Option<f64>,
    #[param(value_type = f64, minimum = -180.0, maximum = 180.0, required = true)]
    from_lng: Option<f64>,
    #[param(value_type = f64, minimum = -90.0, maximum = 90.0, required = true)]
    to_lat: Option<f64>,
    #[param(value_type = f64, minimum = -180.0, maximum = 180.0, required = true)]
    to_lng: Option<f64>,
}

async fn distance(State(s): State<LocationState>, AppQuery(q): AppQuery<DistanceQuery>) -> ApiResult<Distance> {
    let from = point(PointQuery {
        lat: q.from_lat,
        lng: q.from_lng,
    })
    .map_err(|e| rename(e, "from_"))?;
    let to = point(PointQuery {
        lat: q.to_lat,
        lng: q.to_lng,
    })
    .map_err(|e| rename(e, "to_"))?;
    ok(s.svc.distance(from, to))
}

/// Prefixes the field names of a validation error (`lat` → `from_lat`).
fn rename(mut e: ApiError, prefix: &str) -> ApiError {
    if let Some(fields) = e.fields.take() {
        let renamed: nakku_core::error::FieldErrors =
            fields.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)).collect();
        e.message = nakku_core::CoreError::Validation(renamed.clone()).to_string();
        e.fields = Some(renamed);
    }
    e
}

async fn validate_address(
    State(s): State<LocationState>,
    Ctx(ctx): Ctx,
    AuthUser(_): AuthUser,
    AppJson(b): AppJson<AddressCheckInput>,
) -> ApiResult<AddressCheck> {
    ok(s.svc.validate_address(&ctx, b).await?)
}

async fn stores(State(s): State<LocationState>, auth: AuthUser) -> ApiResult<Page<Store>> {
    auth.require(Role::Admin)?;
    ok(Page::all(s.svc.stores().await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct ZonesQuery {
    #[param(schema_with = rules::store_code)]
    store: Option<String>,
}

async fn list_zones(
    State(s): State<LocationState>,
    auth: AuthUser,
    AppQuery(q): AppQuery<ZonesQuery>,
) -> ApiResult<Page<Zone>> {
    auth.require(Role::Admin)?;
    ok(Page::all(s.svc.zones(q.store.as_deref()).await?))
}

async fn create_zone(
    State(s): State<LocationState>,
    auth: AuthUser,
    AppJson(b): AppJson<ZoneInput>,
) -> ApiResult<Zone> {
    auth.require(Role::Admin)?;
    created(s.svc.create_zone(b).await?)
}

async fn get_zone(State(s): State<LocationState>, auth: AuthUser, Path(id): Path<String>) -> ApiResult<Zone> {
    auth.require(Role::Admin)?;
    ok(s.svc.zone(&id).await?)
}

async fn update_zone(
    State(s): State<LocationState>,
    auth: AuthUser,
    Path(id): Path<String>,
    AppJson(b): AppJson<ZoneInput>,
) -> ApiResult<Zone> {
    auth.require(Role::Admin)?;
    ok(s.svc.update_zone(&id, b).await?)
}

async fn delete_zone(State(s): State<LocationState>, auth: AuthUser, Path(id): Path<String>) -> ApiResult<Deleted> {
    auth.require(Role::Admin)?;
    s.svc.delete_zone(&id).await?;
    ok(DELETED)
}

/// The location service's address check over HTTP, for a user service whose location
/// service runs in another process. It calls on behalf of the shopper with a short token.
pub struct HttpAddressChecker {
    pub base_url: String,
    pub client: reqwest::Client,
    pub jwt: JwtKeys,
}

impl nakku_core::location::service::AddressChecker for HttpAddressChecker {
    fn check<'a>(
        &'a self,
        ctx: &'a nakku_core::RequestCtx,
        user_id: &'a str,
        input: AddressCheckInput,
    ) -> nakku_core::events::bus::BoxFut<'a, Result<nakku_core::location::service::AddressVerdict, nakku_core::CoreError>>
    {
        Box::pin(async move {
            let fail = |e: String| nakku_core::CoreError::Internal(anyhow::anyhow!("location service: {e}"));
            let (token, _) = self.jwt.issue(user_id, Role::User)?;
            let r = self
                .client
                .post(format!("{}/api/v1/locations/validate-address", self.base_url))
                .bearer_auth(token)
                .header(crate::middleware::REQUEST_ID, &ctx.request_id)
                .json(&input)
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !r.status().is_success() {
                return Err(fail(format!("answered {}", r.status())));
            }
            let body: serde_json::Value = r.json().await.map_err(|e| fail(e.to_string()))?;
            Ok(nakku_core::location::service::AddressVerdict::from_json(&body["data"]))
        })
    }
}
