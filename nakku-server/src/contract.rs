//! The API's contract: what a new version of the OpenAPI document may change without
//! breaking a client written against an older one. Additions are allowed (operations,
//! optional parameters and request fields, answer fields, enum values in answers);
//! anything a client relied on is not: an operation, a success answer or an answer field
//! removed, a field that was always in an answer becoming optional, a type changed, an
//! enum value removed, a parameter or request field removed or newly required, a request
//! type or limit narrowed. `docs/openapi.json` is the document the code produces (a test
//! keeps it current) and `docs/contract/v1.openapi.json` the frozen contract of `/api/v1`:
//! the same test fails on any breaking change against it (see the README's "Versioning").

pub mod graphql;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{Map, Value};

/// The OpenAPI document as `docs/openapi.json` holds it: pretty-printed, with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(crate::openapi::document_json()).unwrap_or_default();
    text.push('\n');
    text
}

/// Which way data flows through a schema: a client sends requests and reads answers, so
/// the two are compatible in opposite directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Flow {
    Request,
    Answer,
}

/// Everything in `new` that breaks a client of `old`, one sentence each, in a stable order.
pub fn breaking_changes(old: &Value, new: &Value) -> Vec<String> {
    breaking_changes_at(old, new, nakku_core::id::now_ms())
}

/// As [`breaking_changes`], on the day `now_ms` falls in: an operation deprecated with an
/// `x-sunset` day that has come may be gone.
pub fn breaking_changes_at(old: &Value, new: &Value, now_ms: i64) -> Vec<String> {
    let mut c = Compare {
        old,
        new,
        out: BTreeSet::new(),
        seen: HashSet::new(),
        depth: 0,
    };
    let (old_ops, new_ops) = (operations(old), operations(new));
    for (key, o) in &old_ops {
        let Some(n) = new_ops.get(key) else {
            if !sunset_passed(o, now_ms) {
                c.out.insert(format!("{key}: operation removed"));
            }
            continue;
        };
        c.operation(key, o, n);
    }
    c.out.into_iter().collect()
}

/// `METHOD /path` (parameter names as `{}`: renaming one breaks nobody) → operation.
fn operations(doc: &Value) -> BTreeMap<String, &Value> {
    let mut out = BTreeMap::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let template = normalise(path);
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if let Some(op) = item.get(method) {
                out.insert(format!("{} {template}", method.to_uppercase()), op);
            }
        }
    }
    out
}

/// The operation was deprecated with a sunset day (`x-sunset`, `YYYY-MM-DD`) that has come.
fn sunset_passed(op: &Value, now_ms: i64) -> bool {
    let deprecated = op.get("deprecated").and_then(Value::as_bool) == Some(true);
    let day = op.get("x-sunset").and_then(Value::as_str).unwrap_or("");
    deprecated && nakku_core::gateway::Sunset::day_has_come(day, now_ms)
}

fn normalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

struct Compare<'a> {
    old: &'a Value,
    new: &'a Value,
    out: BTreeSet<String>,
    /// (old `$ref`, new `$ref`, flow) already compared: schemas refer to themselves.
    seen: HashSet<(String, String, Flow)>,
    depth: usize,
}

impl<'a> Compare<'a> {
    fn operation(&mut self, key: &str, o: &'a Value, n: &'a Value) {
        // A change is reported once per operation it reaches.
        self.seen.clear();
        // Parameters, by where they go and their name.
        let params = |doc: &'a Value, op: &'a Value| -> BTreeMap<(String, String), &'a Value> {
            op.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| resolve(doc, p))
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?.to_owned();
                    let place = p.get("in")?.as_str()?.to_owned();
                    // Path parameters are matched by position (their names are not the contract).
                    let name = if place == "path" { String::new() } else { name };
                    Some(((place, name), p))
                })
                .collect()
        };
        let (op_params, np_params) = (params(self.old, o), params(self.new, n));
        for ((place, name), p) in &op_params {
            match np_params.get(&(place.clone(), name.clone())) {
                None if place != "path" => {
                    self.out.insert(format!("{key}: {place} parameter `{name}` removed"));
                }
                None => {}
                Some(np) => {
                    let here = format!("{key}: {place} parameter `{name}`");
                    if required(np) && !required(p) {
                        self.out.insert(format!("{here} is now required"));
                    }
                    if let (Some(os), Some(ns)) = (p.get("schema"), np.get("schema")) {
                        self.schema(&here, os, ns, Flow::Request);
                    }
                }
            }
        }
        for ((place, name), np) in &np_params {
            if required(np) && !op_params.contains_key(&(place.clone(), name.clone())) {
                self.out
                    .insert(format!("{key}: new required {place} parameter `{name}`"));
            }
        }
        // The request body.
        let body = |doc: &'a Value, op: &'a Value| op.get("requestBody").map(|b| resolve(doc, b));
        match (body(self.old, o), body(self.new, n)) {
            (None, Some(nb)) if required(nb) => {
                self.out.insert(format!("{key}: a request body is now required"));
            }
            (Some(ob), Some(nb)) => {
                if required(nb) && !required(ob) {
                    self.out.insert(format!("{key}: the request body is now required"));
                }
                if let (Some(os), Some(ns)) = (json_schema(ob), json_schema(nb)) {
                    self.schema(&format!("{key}: request body"), os, ns, Flow::Request);
                }
            }
            _ => {}
        }
        // Success answers: each must still be given, with what it held.
        let answers = |op: &'a Value| op.get("responses").and_then(Value::as_object);
        for (status, oa) in answers(o).into_iter().flatten() {
            if !status.starts_with('2') {
                continue;
            }
            let Some(na) = answers(n).and_then(|a| a.get(status)) else {
                self.out.insert(format!("{key}: answer {status} removed"));
                continue;
            };
            let (oa, na) = (resolve(self.old, oa), resolve(self.new, na));
            match (json_schema(oa), json_schema(na)) {
                (Some(os), Some(ns)) => self.schema(&format!("{key}: answer {status}"), os, ns, Flow::Answer),
                (Some(_), None) => {
                    self.out.insert(format!("{key}: answer {status} no longer JSON"));
                }
                _ => {}
            }
        }
    }

    fn schema(&mut self, at: &str, o: &Value, n: &Value, flow: Flow) {
        let ((o, o_null), (n, n_null)) = (optional(o), optional(n));
        let reference = |v: &Value| v.get("$ref").and_then(Value::as_str).map(str::to_owned);
        if let (Some(or), Some(nr)) = (reference(o), reference(n)) {
            if !self.seen.insert((or, nr, flow)) {
                return;
            }
        }
        // Recursion goes through references (checked once each, above); a bound besides.
        if self.depth > 64 {
            return;
        }
        self.depth += 1;
        let (mut o, mut n) = (flatten(self.old, o), flatten(self.new, n));
        for (schema, null) in [(&mut o, o_null), (&mut n, n_null)] {
            if null {
                let mut t: Vec<Value> = types(schema).into_iter().map(Value::String).collect();
                if !t.is_empty() && !t.contains(&Value::String("null".into())) {
                    t.push(Value::String("null".into()));
                    schema["type"] = Value::Array(t);
                }
            }
        }
        self.compare_flat(at, &o, &n, flow);
        self.depth -= 1;
    }

    fn compare_flat(&mut self, at: &str, o: &Value, n: &Value, flow: Flow) {
        // Types: a request may accept more than before, an answer may hold less.
        let (ot, nt) = (types(o), types(n));
        if !ot.is_empty() && !nt.is_empty() {
            let lost = match flow {
                Flow::Request => ot.iter().filter(|t| !accepts(&nt, t)).cloned().collect::<Vec<_>>(),
                Flow::Answer => nt.iter().filter(|t| !accepts(&ot, t)).cloned().collect::<Vec<_>>(),
            };
            if !lost.is_empty() {
                let said = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(" | ");
                self.out
                    .insert(format!("{at}: type changed from {} to {}", said(&ot), said(&nt)));
            }
        }
        // Enum values: none may go.
        if let (Some(oe), Some(ne)) = (
            o.get("enum").and_then(Value::as_array),
            n.get("enum").and_then(Value::as_array),
        ) {
            for v in oe.iter().filter(|v| !ne.contains(v)) {
                self.out.insert(format!("{at}: enum value {v} removed"));
            }
        }
        if flow == Flow::Request {
            // Limits on what a client may send: none may tighten.
            for (limit, tighter) in [
                ("maxLength", Tight::Lower),
                ("maximum", Tight::Lower),
                ("maxItems", Tight::Lower),
                ("minLength", Tight::Higher),
                ("minimum", Tight::Higher),
                ("minItems", Tight::Higher),
            ] {
                let (ov, nv) = (
                    o.get(limit).and_then(Value::as_f64),
                    n.get(limit).and_then(Value::as_f64),
                );
                let narrowed = match (ov, nv, tighter) {
                    (None, Some(_), _) => true,
                    (Some(a), Some(b), Tight::Lower) => b < a,
                    (Some(a), Some(b), Tight::Higher) => b > a,
                    _ => false,
                };
                if narrowed {
                    self.out.insert(format!("{at}: {limit} narrowed"));
                }
            }
            if n.get("pattern").is_some() && o.get("pattern") != n.get("pattern") {
                self.out.insert(format!("{at}: pattern changed"));
            }
        }
        // Fields.
        let empty = Map::new();
        let (op, np) = (props(o).unwrap_or(&empty), props(n).unwrap_or(&empty));
        let (or, nr) = (required_fields(o), required_fields(n));
        for (name, os) in op {
            let here = format!("{at}.{name}");
            match np.get(name) {
                None => {
                    self.out.insert(format!("{here}: field removed"));
                }
                Some(ns) => {
                    if flow == Flow::Answer && or.contains(name) && !nr.contains(name) {
                        self.out.insert(format!("{here}: may now be absent"));
                    }
                    self.schema(&here, os, ns, flow);
                }
            }
        }
        if flow == Flow::Request {
            for name in nr.difference(&or) {
                self.out.insert(format!("{at}.{name}: newly required"));
            }
        }
        // Lists and maps.
        if let (Some(oi), Some(ni)) = (o.get("items"), n.get("items")) {
            self.schema(&format!("{at}[]"), oi, ni, flow);
        }
        if let (Some(oa), Some(na)) = (
            o.get("additionalProperties").filter(|v| v.is_object()),
            n.get("additionalProperties").filter(|v| v.is_object()),
        ) {
            self.schema(&format!("{at}{{}}"), oa, na, flow);
        }
    }
}

#[derive(Clone, Copy)]
enum Tight {
    Lower,
    Higher,
}

fn required(v: &Value) -> bool {
    v.get("required").and_then(Value::as_bool).unwrap_or(false)
}

fn required_fields(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn props(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// The JSON schema of a body or an answer.
fn json_schema(v: &Value) -> Option<&Value> {
    v.get("content")?.get("application/json")?.get("schema")
}

/// What a `$ref` points to (followed until it is not one), or the value itself.
fn resolve<'v>(doc: &'v Value, mut v: &'v Value) -> &'v Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            Some(target) => v = target,
            None => return v,
        }
    }
    v
}

/// A schema with its `$ref` followed and its `allOf` parts merged into one object (the
/// envelope and its `data` are an `allOf`).
fn flatten(doc: &Value, v: &Value) -> Value {
    let v = resolve(doc, v);
    let mut out = match v.as_object() {
        Some(o) => o.clone(),
        None => return v.clone(),
    };
    if let Some(parts) = out.remove("allOf").and_then(|p| p.as_array().cloned()) {
        for part in parts {
            let part = flatten(doc, &part);
            let Some(part) = part.as_object() else { continue };
            for (k, val) in part {
                match (k.as_str(), out.get_mut(k)) {
                    ("properties", Some(Value::Object(mine))) => {
                        if let Some(theirs) = val.as_object() {
                            mine.extend(theirs.clone());
                        }
                    }
                    ("required", Some(Value::Array(mine))) => {
                        if let Some(theirs) = val.as_array() {
                            mine.extend(theirs.iter().cloned());
                        }
                    }
                    _ => {
                        out.insert(k.clone(), val.clone());
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// `oneOf`/`anyOf` of one schema and `null` (how an optional field is written): that
/// schema, and that it may be null.
fn optional(v: &Value) -> (&Value, bool) {
    for key in ["oneOf", "anyOf"] {
        if let Some([a, b]) = v.get(key).and_then(Value::as_array).map(Vec::as_slice) {
            let null = |x: &Value| x.get("type").and_then(Value::as_str) == Some("null");
            match (null(a), null(b)) {
                (true, false) => return (b, true),
                (false, true) => return (a, true),
                _ => {}
            }
        }
    }
    (v, false)
}

/// The JSON types a schema allows (`type` as a string or a list; `nullable: true` adds null).
fn types(schema: &Value) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = match schema.get("type") {
        Some(Value::String(t)) => [t.clone()].into(),
        Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => BTreeSet::new(),
    };
    if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        out.insert("null".into());
    }
    out
}

/// Whether a set of types takes values of type `t` (a number takes integers).
fn accepts(set: &BTreeSet<String>, t: &str) -> bool {
    set.contains(t) || (t == "integer" && set.contains("number"))
}

#[cfg(test)]
mod tests;
