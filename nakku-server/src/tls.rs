//! HTTPS at the edge: the gateway serves TLS itself (`NAKKU_TLS_CERT_FILE`,
//! `NAKKU_TLS_KEY_FILE`) with HTTP/2 and HTTP/1.1 offered by ALPN, and picks up a rotated
//! certificate without a restart: every `tls_reload_secs` the files are read again and, when
//! they changed and hold a valid pair, new handshakes get the new certificate. Connections
//! already open keep theirs (a handshake is never redone), so nothing is dropped.
//!
//! Handshakes run in their own tasks, so a slow or silent client cannot hold up the accept
//! loop; a failed handshake is logged at debug and forgotten.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The certificate the gateway presents, reloaded from its files when they change.
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' bytes behind `current`, to notice a change.
    loaded: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the pair; an unreadable file, a key that does not match or an unsupported key
    /// type fails naming the setting.
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<ReloadingCert>> {
        nakku_core::tls::init();
        let (key, bytes) = read_pair(cert_path, key_path)?;
        Ok(Arc::new(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(Arc::new(key)),
            loaded: Mutex::new(bytes),
        }))
    }

    /// Reads the files again; swaps the certificate when they changed and are valid.
    /// Returns whether a new certificate is now served.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let cert = std::fs::read(&self.cert_path)
            .with_context(|| format!("NAKKU_TLS_CERT_FILE={}", self.cert_path.display()))?;
        let key =
            std::fs::read(&self.key_path).with_context(|| format!("NAKKU_TLS_KEY_FILE={}", self.key_path.display()))?;
        let bytes = [cert, key].concat();
        if *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) == bytes {
            return Ok(false);
        }
        let (certified, bytes) = read_pair(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(certified);
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = bytes;
        Ok(true)
    }

    /// Checks the files every `every` until `stop`; a bad new pair is logged and the old
    /// certificate kept (a half-written rotation must not take the edge down).
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration, stop: CancellationToken) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                match me.reload() {
                    Ok(true) => tracing::info!(cert = %me.cert_path.display(), "TLS certificate reloaded"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "TLS certificate files changed but cannot be used; still serving the previous certificate")
                    }
                }
            }
        });
    }

    /// The leaf certificate now served (DER).
    pub fn current_der(&self) -> Vec<u8> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner()).clone();
        current.cert.first().map(|c| c.to_vec()).unwrap_or_default()
    }

    /// A server config offering HTTP/2 and HTTP/1.1 with this certificate.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(cfg)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

fn read_pair(cert_path: &Path, key_path: &Path) -> anyhow::Result<(CertifiedKey, Vec<u8>)> {
    let cert_bytes =
        std::fs::read(cert_path).with_context(|| format!("NAKKU_TLS_CERT_FILE={}", cert_path.display()))?;
    let key_bytes = std::fs::read(key_path).with_context(|| format!("NAKKU_TLS_KEY_FILE={}", key_path.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!(
                "NAKKU_TLS_CERT_FILE={}: not a PEM certificate chain",
                cert_path.display()
            )
        })?;
    anyhow::ensure!(
        !chain.is_empty(),
        "NAKKU_TLS_CERT_FILE={}: no certificate in the file",
        cert_path.display()
    );
    let key = PrivateKeyDer::from_pem_slice(&key_bytes)
        .with_context(|| format!("NAKKU_TLS_KEY_FILE={}: no PEM private key", key_path.display()))?;
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .context("no TLS provider installed")?;
    let certified = CertifiedKey::from_der(chain, key, &provider).with_context(|| {
        format!(
            "NAKKU_TLS_KEY_FILE={} does not fit NAKKU_TLS_CERT_FILE={} (or its key type is not supported)",
            key_path.display(),
            cert_path.display()
        )
    })?;
    Ok((certified, [cert_bytes, key_bytes].concat()))
}

/// A TLS listener for `axum::serve`: TCP accepts here, handshakes in their own tasks,
/// finished connections handed over through a channel.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    _stop: tokio_util::sync::DropGuard,
}

/// A handshake taking longer than this is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(256);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = stopped.cancelled() => return,
                    r = tcp.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of file descriptors and the like: back off, as axum does.
                            tracing::warn!(error = %e, "accepting a TLS connection");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready,
            _stop: stop.drop_guard(),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(x) => x,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
