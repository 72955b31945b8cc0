//! Parsing and checking one setting's value: numbers in a range, flags, URLs, PEM files,
//! secrets. Each error names the key as the operator gave it and where it came from.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{ConfigError, Raw, Secret};

pub(super) fn bad(r: &Raw, expected: &str) -> ConfigError {
    ConfigError {
        key: r.key_as_given.clone(),
        origin: r.origin.clone(),
        value: r.value.clone(),
        expected: expected.to_owned(),
    }
}

/// A whole number from `min` to `max`.
pub(super) fn whole<T>(r: &Raw, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let expected = format!("a whole number from {min} to {max}");
    let v: T = r.value.trim().parse().map_err(|_| bad(r, &expected))?;
    if v < min || v > max {
        return Err(bad(r, &expected));
    }
    Ok(v)
}

/// A finite number from `min` to `max`.
pub(super) fn decimal(r: &Raw, min: f64, max: f64) -> Result<f64, ConfigError> {
    let expected = format!("a number from {min} to {max}");
    let v: f64 = r.value.trim().parse().map_err(|_| bad(r, &expected))?;
    if !v.is_finite() || v < min || v > max {
        return Err(bad(r, &expected));
    }
    Ok(v)
}

pub(super) fn flag(r: &Raw) -> Result<bool, ConfigError> {
    match r.value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(r, "true or false")),
    }
}

/// An http(s) URL; with `several`, base URLs separated by commas (trailing `/` dropped),
/// given back joined by commas.
pub(super) fn http_urls(r: &Raw, several: bool) -> Result<String, ConfigError> {
    let is_http = |v: &str| v.starts_with("http://") || v.starts_with("https://");
    if !several {
        if !is_http(&r.value) {
            return Err(bad(r, "an http:// or https:// URL"));
        }
        return Ok(r.value.clone());
    }
    let expected = "http:// or https:// base URLs, separated by commas";
    let mut urls = Vec::new();
    for part in r.value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v = part.trim_end_matches('/');
        if !is_http(v) || v.len() < 10 {
            return Err(bad(r, expected));
        }
        urls.push(v.to_owned());
    }
    if urls.is_empty() {
        return Err(bad(r, expected));
    }
    Ok(urls.join(","))
}

/// A signing secret of at least `min_len` bytes.
pub(super) fn secret_of_length(r: &Raw, min_len: usize) -> Result<Secret, ConfigError> {
    if r.value.len() < min_len {
        return Err(bad(r, &format!("a secret of at least {min_len} bytes")));
    }
    Ok(Secret::new(&r.value))
}

/// A bearer token: no spaces, no control characters.
pub(super) fn token(r: &Raw) -> Result<Secret, ConfigError> {
    if r.value.is_empty() || r.value.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad(r, "a token without spaces or control characters"));
    }
    Ok(Secret::new(&r.value))
}

/// librdkafka properties, `name=value` pairs separated by `;`.
pub(super) fn kafka_properties(r: &Raw) -> Result<Vec<(String, String)>, ConfigError> {
    let mut props = Vec::new();
    for pair in r.value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                props.push((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => return Err(bad(r, "librdkafka properties as name=value pairs separated by `;`")),
        }
    }
    Ok(props)
}

/// A PEM file that exists and holds at least one block of the given kind (`CERTIFICATE`,
/// or `PRIVATE KEY`, which also matches `RSA PRIVATE KEY` and `EC PRIVATE KEY`).
pub(super) fn pem_file(r: &Raw, kind: &str) -> Result<PathBuf, ConfigError> {
    let expected = |why: String| format!("a readable PEM file with a {kind} ({why})");
    let text = std::fs::read_to_string(&r.value).map_err(|e| bad(r, &expected(e.to_string())))?;
    let has = text.lines().any(|l| l.starts_with("-----BEGIN ") && l.contains(kind));
    if !has {
        return Err(bad(r, &expected(format!("no -----BEGIN …{kind}----- block found"))));
    }
    Ok(PathBuf::from(&r.value))
}

/// Reads a setting's value from a file (the Docker and Kubernetes secrets convention): the
/// whole file, without its trailing newline.
pub(super) fn read_secret_file(path: &Path, key: &str, origin: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        key: key.to_owned(),
        origin: origin.to_owned(),
        value: path.display().to_string(),
        expected: format!("a readable file ({e})"),
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Hides the password in a URL (`mysql://root:***@host`).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub(super) fn validate_server_url(r: &Raw) -> Result<(), ConfigError> {
    let expected = "a server URL mysql://user:pass@host:port with no database name (each service adds nakku_<svc>)";
    let v = &r.value;
    let rest = v
        .strip_prefix("mysql://")
        .or_else(|| v.strip_prefix("mariadb://"))
        .ok_or_else(|| bad(r, expected))?;
    let before_query = rest.split('?').next().unwrap_or_default();
    let host_part = before_query.rsplit('@').next().unwrap_or_default();
    if host_part.is_empty() || host_part.trim_end_matches('/').contains('/') {
        return Err(bad(r, expected));
    }
    Ok(())
}

pub(super) fn validate_database_url(r: &Raw) -> Result<(), ConfigError> {
    let v = &r.value;
    let ok = if let Some(rest) = v.strip_prefix("mysql://").or_else(|| v.strip_prefix("mariadb://")) {
        let before_query = rest.split('?').next().unwrap_or_default();
        let after_at = before_query.rsplit('@').next().unwrap_or_default();
        matches!(after_at.split_once('/'), Some((host, db)) if !host.is_empty() && is_db_name(db))
    } else if let Some(path) = v.strip_prefix("sqlite://").or_else(|| v.strip_prefix("sqlite:")) {
        !path.split('?').next().unwrap_or_default().is_empty()
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(bad(
            r,
            "mysql://user:pass@host:port/database (letters, digits, _) or sqlite://path",
        ))
    }
}

/// A MySQL URL that also trusts `NAKKU_TLS_CA_FILE`: `ssl-ca` is added unless the URL names
/// its own (MySQL's clients take one CA file; sqlx adds it to the platform's roots).
pub fn with_ssl_ca(url: &str, ca: &Path) -> String {
    let has_ca = url.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|p| p.starts_with("ssl-ca=") || p.starts_with("sslca="))
    });
    if has_ca || !(url.starts_with("mysql://") || url.starts_with("mariadb://")) {
        return url.to_owned();
    }
    let path: String = ca
        .display()
        .to_string()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}ssl-ca={path}")
}

/// Database names go into `CREATE DATABASE`, so they are restricted to a safe alphabet.
pub fn is_db_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
