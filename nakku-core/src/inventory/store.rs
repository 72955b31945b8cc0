//! SQL for the inventory tables. One text for both backends; reads skip soft-deleted rows.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{hhmm, LedgerEntry, Line, ReservationStatus, Warehouse};
use crate::db::{opt_text, text};
use crate::id::{new_id, now_ms};

const WAREHOUSE_COLS: &str = "id, code, name, city, lat, lng, opens_at, closes_at, active, created_at, updated_at";

fn warehouse_from_row(r: &AnyRow) -> Result<Warehouse, sqlx::Error> {
    let active: i64 = r.try_get("active")?;
    Ok(Warehouse {
        id: text(r, "id")?,
        code: text(r, "code")?,
        name: text(r, "name")?,
        city: text(r, "city")?,
        lat: r.try_get("lat")?,
        lng: r.try_get("lng")?,
        opens_at: hhmm(r.try_get("opens_at")?),
        closes_at: hhmm(r.try_get("closes_at")?),
        active: active != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Minutes-after-midnight form of a warehouse, for writes.
pub struct WarehouseRow<'a> {
    pub w: &'a Warehouse,
    pub opens: i64,
    pub closes: i64,
}

pub async fn insert_warehouse(conn: &mut AnyConnection, row: &WarehouseRow<'_>) -> Result<(), sqlx::Error> {
    let w = row.w;
    sqlx::query(&format!(
        "INSERT INTO warehouses ({WAREHOUSE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&w.id)
    .bind(&w.code)
    .bind(&w.name)
    .bind(&w.city)
    .bind(w.lat)
    .bind(w.lng)
    .bind(row.opens)
    .bind(row.closes)
    .bind(i64::from(w.active))
    .bind(w.created_at)
    .bind(w.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_warehouse(conn: &mut AnyConnection, row: &WarehouseRow<'_>) -> Result<u64, sqlx::Error> {
    let w = row.w;
    let r = sqlx::query(
        "UPDATE warehouses SET code = ?, name = ?, city = ?, lat = ?, lng = ?, opens_at = ?, closes_at = ?, \
         active = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(&w.code)
    .bind(&w.name)
    .bind(&w.city)
    .bind(w.lat)
    .bind(w.lng)
    .bind(row.opens)
    .bind(row.closes)
    .bind(i64::from(w.active))
    .bind(w.updated_at)
    .bind(&w.id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// A live warehouse by id or by code.
pub async fn find_warehouse(conn: &mut AnyConnection, id_or_code: &str) -> Result<Option<Warehouse>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {WAREHOUSE_COLS} FROM warehouses WHERE (id = ? OR code = ?) AND deleted_at IS NULL"
    ))
    .bind(id_or_code)
    .bind(id_or_code.to_ascii_uppercase())
    .fetch_optional(conn)
    .await?
    .map(|r| warehouse_from_row(&r))
    .transpose()
}

pub async fn list_warehouses(conn: &mut AnyConnection) -> Result<Vec<Warehouse>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {WAREHOUSE_COLS} FROM warehouses WHERE deleted_at IS NULL ORDER BY code"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(warehouse_from_row)
    .collect()
}

pub async fn soft_delete_warehouse(conn: &mut AnyConnection, id: &str) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let r = sqlx::query(
        "UPDATE warehouses SET deleted_at = ?, updated_at = ?, active = 0 WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

// ---- stock ----

/// The numbers of one stock row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbers {
    pub on_hand: i64,
    pub reserved: i64,
    pub low_threshold: i64,
    pub low_alerted: bool,
    pub out_alerted: bool,
}

impl Numbers {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

fn numbers_from_row(r: &AnyRow) -> Result<Numbers, sqlx::Error> {
    let low: i64 = r.try_get("low_alerted")?;
    let out: i64 = r.try_get("out_alerted")?;
    Ok(Numbers {
        on_hand: r.try_get("on_hand")?,
        reserved: r.try_get("reserved")?,
        low_threshold: r.try_get("low_threshold")?,
        low_alerted: low != 0,
        out_alerted: out != 0,
    })
}

pub async fn numbers(conn: &mut AnyConnection, wh: &str, sku: &str) -> Result<Option<Numbers>, sqlx::Error> {
    sqlx::query(
        "SELECT on_hand, reserved, low_threshold, low_alerted, out_alerted FROM stock \
         WHERE warehouse_id = ? AND sku = ? AND deleted_at IS NULL",
    )
    .bind(wh)
    .bind(sku)
    .fetch_optional(conn)
    .await?
    .map(|r| numbers_from_row(&r))
    .transpose()
}

/// Numbers of several skus at one store, keyed by sku.
pub async fn numbers_many(
    conn: &mut AnyConnection,
    wh: &str,
    skus: &[String],
) -> Result<Vec<(String, Numbers)>, sqlx::Error> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
        "SELECT sku, on_hand, reserved, low_threshold, low_alerted, out_alerted FROM stock WHERE warehouse_id = ",
    );
    qb.push_bind(wh).push(" AND deleted_at IS NULL AND sku IN ");
    crate::db::push_list(&mut qb, skus);
    qb.build()
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| Ok((text(r, "sku")?, numbers_from_row(r)?)))
        .collect()
}

/// Creates the stock row of a sku at a store if missing (0 on hand). A new, empty row counts
/// as already alerted (low and out), so tracking an item raises no alarm; its first
/// restock re-arms both.
pub async fn ensure_stock_row(
    conn: &mut AnyConnection,
    wh: &str,
    sku: &str,
    threshold: i64,
) -> Result<(), sqlx::Error> {
    if numbers(conn, wh, sku).await?.is_some() {
        return Ok(());
    }
    let now = now_ms();
    let r = sqlx::query(
        "INSERT INTO stock (id, warehouse_id, sku, on_hand, reserved, low_threshold, low_alerted, out_alerted, created_at, updated_at) \
         VALUES (?, ?, ?, 0, 0, ?, 1, 1, ?, ?)",
    )
    .bind(new_id())
    .bind(wh)
    .bind(sku)
    .bind(threshold)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await;
    match r {
        Err(e) if crate::error::is_unique_violation(&e) => Ok(()), // created concurrently
        other => other.map(|_| ()),
    }
}

/// Applies deltas only if the result keeps `0 <= reserved <= on_hand`; returns whether it
/// did. The invariant is in the WHERE clause, so concurrent calls can never overshoot.
pub async fn apply_deltas(
    conn: &mut AnyConnection,
    wh: &str,
    sku: &str,
    on_hand_delta: i64,
    reserved_delta: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE stock SET on_hand = on_hand + ?, reserved = reserved + ?, updated_at = ? \
         WHERE warehouse_id = ? AND sku = ? AND deleted_at IS NULL \
         AND reserved + ? >= 0 AND on_hand + ? >= reserved + ?",
    )
    .bind(on_hand_delta)
    .bind(reserved_delta)
    .bind(now_ms())
    .bind(wh)
    .bind(sku)
    .bind(reserved_delta)
    .bind(on_hand_delta)
    .bind(reserved_delta)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_flags(conn: &mut AnyConnection, wh: &str, sku: &str, low: bool, out: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stock SET low_alerted = ?, out_alerted = ? WHERE warehouse_id = ? AND sku = ?")
        .bind(i64::from(low))
        .bind(i64::from(out))
        .bind(wh)
        .bind(sku)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_threshold(conn: &mut AnyConnection, wh: &str, sku: &str, threshold: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stock SET low_threshold = ?, updated_at = ? WHERE warehouse_id = ? AND sku = ?")
        .bind(threshold)
        .bind(now_ms())
        .bind(wh)
        .bind(sku)
        .execute(conn)
        .await?;
    Ok(())
}

/// Items at a store whose available quantity is at or below their threshold.
pub async fn low_stock(conn: &mut AnyConnection, wh: &str) -> Result<Vec<(String, Numbers)>, sqlx::Error> {
    sqlx::query(
        "SELECT sku, on_hand, reserved, low_threshold, low_alerted, out_alerted FROM stock \
         WHERE warehouse_id = ? AND deleted_at IS NULL AND on_hand - reserved <= low_threshold ORDER BY on_hand - reserved, sku",
    )
    .bind(wh)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| Ok((text(r, "sku")?, numbers_from_row(r)?)))
    .collect()
}

/// One movement for the ledger.
pub struct Movement<'a> {
    pub wh: &'a str,
    pub sku: &'a str,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub reason: &'a str,
    pub note: Option<&'a str>,
    pub ref_id: Option<&'a str>,
    pub actor: Option<&'a str>,
}

pub async fn append_ledger(conn: &mut AnyConnection, m: &Movement<'_>) -> Result<(), sqlx::Error> {
    append_ledger_many(conn, std::slice::from_ref(m)).await
}

/// Appends several movements in one multi-row INSERT.
pub async fn append_ledger_many(conn: &mut AnyConnection, ms: &[Movement<'_>]) -> Result<(), sqlx::Error> {
    if ms.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
        "INSERT INTO stock_ledger (id, warehouse_id, sku, on_hand_delta, reserved_delta, reason, note, ref_id, actor, created_at, updated_at) ",
    );
    qb.push_values(ms, |mut row, m| {
        row.push_bind(new_id())
            .push_bind(m.wh)
            .push_bind(m.sku)
            .push_bind(m.on_hand_delta)
            .push_bind(m.reserved_delta)
            .push_bind(m.reason)
            .push_bind(m.note)
            .push_bind(m.ref_id)
            .push_bind(m.actor)
            .push_bind(now)
            .push_bind(now);
    });
    qb.build().execute(conn).await?;
    Ok(())
}

pub async fn ledger(
    conn: &mut AnyConnection,
    wh: &str,
    sku: &str,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
        "SELECT id, sku, on_hand_delta, reserved_delta, reason, note, ref_id, actor, created_at FROM stock_ledger \
         WHERE warehouse_id = ",
    );
    qb.push_bind(wh).push(" AND sku = ").push_bind(sku);
    if let Some(c) = cursor {
        qb.push(" AND id > ").push_bind(c);
    }
    qb.push(" ORDER BY id LIMIT ").push_bind(limit);
    qb.build()
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok(LedgerEntry {
                id: text(r, "id")?,
                sku: text(r, "sku")?,
                on_hand_delta: r.try_get("on_hand_delta")?,
                reserved_delta: r.try_get("reserved_delta")?,
                reason: text(r, "reason")?,
                note: opt_text(r, "note")?,
                ref_id: opt_text(r, "ref_id")?,
                actor: opt_text(r, "actor")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Items whose stock row differs from the sum of their ledger: (sku, on_hand, ledger
/// on_hand, reserved, ledger reserved). Empty when everything reconciles.
pub async fn reconcile(conn: &mut AnyConnection, wh: &str) -> Result<Vec<(String, i64, i64, i64, i64)>, sqlx::Error> {
    // CAST: MySQL's SUM over BIGINT is DECIMAL, which the Any driver cannot read.
    let rows = sqlx::query(
        "SELECT s.sku AS sku, s.on_hand AS on_hand, s.reserved AS reserved, \
                CAST(COALESCE(SUM(l.on_hand_delta), 0) AS SIGNED) AS l_on_hand, \
                CAST(COALESCE(SUM(l.reserved_delta), 0) AS SIGNED) AS l_reserved \
         FROM stock s LEFT JOIN stock_ledger l ON l.warehouse_id = s.warehouse_id AND l.sku = s.sku \
         WHERE s.warehouse_id = ? GROUP BY s.sku, s.on_hand, s.reserved ORDER BY s.sku",
    )
    .bind(wh)
    .fetch_all(conn)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let (on_hand, reserved): (i64, i64) = (r.try_get("on_hand")?, r.try_get("reserved")?);
        let (l_on_hand, l_reserved): (i64, i64) = (r.try_get("l_on_hand")?, r.try_get("l_reserved")?);
        if on_hand != l_on_hand || reserved != l_reserved {
            out.push((text(r, "sku")?, on_hand, l_on_hand, reserved, l_reserved));
        }
    }
    Ok(out)
}

// ---- reservations ----

/// A reservation row without its lines.
#[derive(Debug, Clone)]
pub struct ReservationRow {
    pub id: String,
    pub order_id: String,
    pub warehouse_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Inserts several reservation rows in one statement.
pub async fn insert_reservations(conn: &mut AnyConnection, rows: &[ReservationRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
        "INSERT INTO reservations (id, order_id, warehouse_id, status, reason, expires_at, created_at, updated_at) ",
    );
    qb.push_values(rows, |mut row, r| {
        row.push_bind(&r.id)
            .push_bind(&r.order_id)
            .push_bind(&r.warehouse_id)
            .push_bind(&r.status)
            .push_bind(r.reason.as_deref())
            .push_bind(r.expires_at)
            .push_bind(r.created_at)
            .push_bind(r.updated_at);
    });
    qb.build().execute(conn).await?;
    Ok(())
}

/// Inserts the lines of several reservations, 500 to a statement.
pub async fn insert_lines_many(conn: &mut AnyConnection, lines: &[(String, Line)]) -> Result<(), sqlx::Error> {
    for chunk in lines.chunks(500) {
        let mut qb =
            sqlx::QueryBuilder::<sqlx::Any>::new("INSERT INTO reservation_lines (reservation_id, sku, quantity) ");
        qb.push_values(chunk, |mut row, (id, l)| {
            row.push_bind(id).push_bind(&l.sku).push_bind(l.quantity);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn insert_reservation(conn: &mut AnyConnection, r: &ReservationRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reservations (id, order_id, warehouse_id, status, reason, expires_at, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.id)
    .bind(&r.order_id)
    .bind(&r.warehouse_id)
    .bind(&r.status)
    .bind(r.reason.clone())
    .bind(r.expires_at)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_lines(conn: &mut AnyConnection, reservation_id: &str, lines: &[Line]) -> Result<(), sqlx::Error> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new("INSERT INTO reservation_lines (reservation_id, sku, quantity) ");
    qb.push_values(lines, |mut row, l| {
        row.push_bind(reservation_id).push_bind(&l.sku).push_bind(l.quantity);
    });
    qb.build().execute(conn).await?;
    Ok(())
}

pub async fn find_reservation(
    conn: &mut AnyConnection,
    order_id: &str,
    lock: &str,
) -> Result<Option<(ReservationRow, Vec<Line>)>, sqlx::Error> {
    if !lock.is_empty() {
        return find_reservation_locked(conn, order_id, lock).await;
    }
    // The reservation and its lines in one read (a reservation without lines reads as one
    // row with no sku).
    let rows = sqlx::query(
        "SELECT r.id, r.order_id, r.warehouse_id, r.status, r.reason, r.expires_at, r.created_at, r.updated_at, \
         l.sku, l.quantity FROM reservations r LEFT JOIN reservation_lines l ON l.reservation_id = r.id \
         WHERE r.order_id = ? AND r.deleted_at IS NULL ORDER BY l.sku",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let row = reservation_row(r)?;
    let lines = reservation_lines(&rows)?;
    Ok(Some((row, lines)))
}

/// The lines of rows carrying `sku` and `quantity` (a row without a sku — a reservation
/// joined to no line — is none).
fn reservation_lines(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Line>, sqlx::Error> {
    let mut lines = Vec::with_capacity(rows.len());
    for l in rows {
        if let Some(sku) = opt_text(l, "sku")? {
            lines.push(Line {
                sku,
                quantity: l.try_get("quantity")?,
            });
        }
    }
    Ok(lines)
}

fn reservation_row(r: &sqlx::any::AnyRow) -> Result<ReservationRow, sqlx::Error> {
    Ok(ReservationRow {
        id: text(r, "id")?,
        order_id: text(r, "order_id")?,
        warehouse_id: text(r, "warehouse_id")?,
        status: text(r, "status")?,
        reason: opt_text(r, "reason")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// [`find_reservation`] locking the reservation row only (`lock`: MySQL's ` FOR UPDATE`):
/// a join would lock the lines' index too, next-key locks that new reservations' lines
/// inserted by the batch writer would queue behind.
async fn find_reservation_locked(
    conn: &mut AnyConnection,
    order_id: &str,
    lock: &str,
) -> Result<Option<(ReservationRow, Vec<Line>)>, sqlx::Error> {
    let Some(r) = sqlx::query(&format!(
        "SELECT id, order_id, warehouse_id, status, reason, expires_at, created_at, updated_at FROM reservations \
         WHERE order_id = ? AND deleted_at IS NULL{lock}"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let row = reservation_row(&r)?;
    let rows = sqlx::query("SELECT sku, quantity FROM reservation_lines WHERE reservation_id = ? ORDER BY sku")
        .bind(&row.id)
        .fetch_all(conn)
        .await?;
    Ok(Some((row, reservation_lines(&rows)?)))
}

/// Moves a reservation from `from` to `to`; false when it was no longer in `from`.
/// Moves a reservation from `from` to `to` (false when it was no longer in `from`). A move
/// the table ([`ReservationStatus::next`]) does not allow is refused without a write.
pub async fn transition(
    conn: &mut AnyConnection,
    id: &str,
    from: ReservationStatus,
    to: ReservationStatus,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    if !from.can_become(to) {
        return Err(sqlx::Error::Protocol(format!(
            "reservation {id}: {from} → {to} is not a legal move"
        )));
    }
    let r = sqlx::query(
        "UPDATE reservations SET status = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ? AND status = ?",
    )
    .bind(to.as_str())
    .bind(reason.map(str::to_owned))
    .bind(now_ms())
    .bind(id)
    .bind(from.as_str())
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Order ids of held reservations past their expiry.
pub async fn due_for_expiry(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query(
        "SELECT order_id FROM reservations WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| text(r, "order_id"))
    .collect()
}

// ---- back-in-stock watchers ----

pub async fn add_watcher(conn: &mut AnyConnection, wh: &str, sku: &str, user_id: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let r = sqlx::query(
        "INSERT INTO stock_watchers (id, warehouse_id, sku, user_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(new_id())
    .bind(wh)
    .bind(sku)
    .bind(user_id)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await;
    match r {
        Ok(_) => Ok(true),
        Err(e) if crate::error::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Marks everyone waiting for the sku as notified and returns their user ids.
pub async fn take_watchers(conn: &mut AnyConnection, wh: &str, sku: &str) -> Result<Vec<String>, sqlx::Error> {
    let users = sqlx::query(
        "SELECT user_id FROM stock_watchers WHERE warehouse_id = ? AND sku = ? AND notified_at IS NULL AND deleted_at IS NULL ORDER BY id",
    )
    .bind(wh)
    .bind(sku)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| text(r, "user_id"))
    .collect::<Result<Vec<_>, _>>()?;
    if !users.is_empty() {
        let now = now_ms();
        sqlx::query("UPDATE stock_watchers SET notified_at = ?, updated_at = ? WHERE warehouse_id = ? AND sku = ? AND notified_at IS NULL")
            .bind(now)
            .bind(now)
            .bind(wh)
            .bind(sku)
            .execute(conn)
            .await?;
    }
    Ok(users)
}
