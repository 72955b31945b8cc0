//! One TLS stack for every outgoing connection: rustls with the ring provider (no OpenSSL
//! in the default build), trusting the platform's roots plus the optional PEM bundle in
//! `NAKKU_TLS_CA_FILE`. MySQL/MariaDB (sqlx), Redis, HTTP (reqwest: upstreams, service to
//! service, webhooks, the CLI) and SMTP (lettre) are built here or through here, so each
//! honours the same bundle. Kafka goes through librdkafka, whose TLS is OpenSSL's (the
//! `kafka-tls` feature; see `events::kafka`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::Settings;

/// Makes ring the process's rustls provider. Idempotent; called wherever a TLS client or
/// server is built, so that a library user need not remember to.
///
/// ring rather than aws-lc-rs: it builds with a C compiler alone (aws-lc needs cmake and
/// several minutes), and reqwest, sqlx and lettre already use it. rustls 0.23.48 marks
/// ring's provider deprecated because it has no post-quantum key exchange; moving the
/// workspace to aws-lc-rs brings that (X25519MLKEM768) when it is wanted.
#[allow(deprecated)]
pub fn init() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing the same provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The extra CA certificates from `NAKKU_TLS_CA_FILE` (none when unset).
#[derive(Clone, Default)]
pub struct ExtraRoots {
    source: Option<PathBuf>,
    certs: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraRoots")
            .field("source", &self.source)
            .field("certs", &self.certs.len())
            .finish()
    }
}

impl ExtraRoots {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<ExtraRoots> {
        match &settings.tls_ca_file {
            Some(path) => ExtraRoots::load(path, "NAKKU_TLS_CA_FILE"),
            None => Ok(ExtraRoots::default()),
        }
    }

    /// Reads every certificate in a PEM file; `setting` names it in errors.
    pub fn load(path: &Path, setting: &str) -> anyhow::Result<ExtraRoots> {
        init();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("{setting}={}: not a readable PEM certificate bundle", path.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "{setting}={}: the file holds no certificate",
            path.display()
        );
        Ok(ExtraRoots {
            source: Some(path.to_path_buf()),
            certs,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    pub fn path(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// A reqwest client builder on rustls with the platform's roots and these. Callers add
    /// their own timeouts.
    pub fn http(&self) -> anyhow::Result<reqwest::ClientBuilder> {
        init();
        let mut b = reqwest::Client::builder().use_rustls_tls();
        for c in &self.certs {
            b = b.add_root_certificate(reqwest::Certificate::from_der(c.as_ref()).context("an extra CA certificate")?);
        }
        Ok(b)
    }

    /// A reqwest client with these roots, for callers without other settings.
    pub fn http_client(&self, timeout: std::time::Duration) -> anyhow::Result<reqwest::Client> {
        self.http()?
            .timeout(timeout)
            .build()
            .context("building the HTTP client")
    }

    /// A Redis client; for `rediss://` it trusts the platform's roots and these.
    pub fn redis_client(&self, url: &str) -> anyhow::Result<redis::Client> {
        init();
        if self.is_empty() || !url.starts_with("rediss://") {
            return redis::Client::open(url).map_err(|e| anyhow::anyhow!("invalid NAKKU_REDIS_URL: {e}"));
        }
        // The Redis client takes one PEM bundle that replaces the platform's roots: give it both.
        let mut pem = Vec::new();
        for c in rustls_native_certs::load_native_certs().certs.iter().chain(&self.certs) {
            pem.extend_from_slice(to_pem(c).as_bytes());
        }
        redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            },
        )
        .map_err(|e| anyhow::anyhow!("invalid NAKKU_REDIS_URL: {e}"))
    }

    /// The rustls roots for a client config of our own: the platform's plus these.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        store.add_parsable_certificates(self.certs.iter().cloned());
        store
    }

    /// A rustls client config trusting [`ExtraRoots::root_store`].
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        init();
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(self.root_store())
                .with_no_client_auth(),
        )
    }

    /// The certificates as PEM, for clients that take a bundle (lettre).
    pub fn pem(&self) -> Vec<String> {
        self.certs.iter().map(to_pem).collect()
    }
}

fn to_pem(c: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(c.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// What went wrong in a TLS handshake, in words an operator can act on, when an error's
/// chain holds a certificate failure; `None` for other errors. `setting` names where the
/// trusted CAs come from for this connection.
pub fn explain(err: &(dyn std::error::Error + 'static), peer: &str, setting: &str) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut text = String::new();
    while let Some(e) = cur {
        if let Some(rustls::Error::InvalidCertificate(c)) = e.downcast_ref::<rustls::Error>() {
            return Some(describe(c, peer, setting));
        }
        // An io::Error's source() skips the error it wraps: look inside it too.
        let wrapped = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        if let Some(rustls::Error::InvalidCertificate(c)) = wrapped.and_then(|w| w.downcast_ref::<rustls::Error>()) {
            return Some(describe(c, peer, setting));
        }
        text.push_str(&e.to_string());
        text.push(' ');
        cur = e.source();
    }
    // Some clients flatten the rustls error into text.
    let kind = if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        rustls::CertificateError::UnknownIssuer
    } else if text.contains("NotValidForName") || text.contains("not valid for name") {
        rustls::CertificateError::NotValidForName
    } else if text.contains("invalid peer certificate") || text.contains("certificate verify failed") {
        rustls::CertificateError::BadSignature
    } else {
        return None;
    };
    Some(describe(&kind, peer, setting))
}

fn describe(c: &rustls::CertificateError, peer: &str, setting: &str) -> String {
    match c {
        rustls::CertificateError::UnknownIssuer => {
            format!("TLS: {peer} presented a certificate from a CA that is not trusted; add that CA to {setting}")
        }
        rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. } => {
            format!("TLS: {peer} presented a certificate issued for another host name; connect by the name on its certificate")
        }
        rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. } => {
            format!("TLS: {peer} presented an expired certificate")
        }
        other => format!("TLS: {peer} presented a certificate that was refused ({other:?}); check {setting}"),
    }
}

/// [`explain`] for an `anyhow` chain.
pub fn explain_anyhow(err: &anyhow::Error, peer: &str, setting: &str) -> Option<String> {
    err.chain().find_map(|e| explain(e, peer, setting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_are_explained_with_the_setting_and_the_peer() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let msg = explain(&e, "db.example.com:3306", "NAKKU_TLS_CA_FILE").unwrap_or_default();
        assert!(
            msg.contains("db.example.com:3306") && msg.contains("NAKKU_TLS_CA_FILE"),
            "{msg}"
        );
        let io = std::io::Error::other("invalid peer certificate: NotValidForName");
        let msg = explain(&io, "redis:6380", "NAKKU_TLS_CA_FILE").unwrap_or_default();
        assert!(msg.contains("another host name"), "{msg}");
        assert!(explain(&std::io::Error::other("connection refused"), "x", "y").is_none());
    }

    #[test]
    fn a_file_without_certificates_is_refused_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = ExtraRoots::load(&path, "NAKKU_TLS_CA_FILE").unwrap_err();
        assert!(err.to_string().contains("NAKKU_TLS_CA_FILE"), "{err}");
    }
}
