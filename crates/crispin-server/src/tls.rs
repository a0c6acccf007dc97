//! TLS (rustls with the ring provider, TLS 1.2 and 1.3 only): the
//! certificate, its reload on SIGHUP, implicit TLS and STARTTLS.

use crate::config::TlsConfig;
use async_trait::async_trait;
use crispin_imap::TlsUpgrade;
use crispin_proto::Stream;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("no usable certificate or key in {0}")]
    Pem(PathBuf),
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The paths in use, and the current rustls configuration (swapped on
/// reload; connections in progress keep the one they started with).
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Loads the configured certificate, or generates a self-signed one
    /// into `data_dir/tls` on first start.
    pub fn load(config: &TlsConfig, data_dir: &Path) -> Result<Tls, TlsError> {
        let (cert, key) = match (&config.cert, &config.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => {
                let dir = data_dir.join("tls");
                let cert = dir.join("cert.pem");
                let key = dir.join("key.pem");
                if !cert.exists() || !key.exists() {
                    generate_self_signed(&dir, &cert, &key)?;
                    tracing::warn!(
                        path = %cert.display(),
                        "no TLS certificate configured: generated a self-signed one"
                    );
                }
                (cert, key)
            }
        };
        let server_config = build(&cert, &key)?;
        Ok(Tls {
            cert,
            key,
            current: RwLock::new(Arc::new(server_config)),
        })
    }

    /// Re-reads the certificate and key (SIGHUP). On error the old ones
    /// stay in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = build(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Runs the server side of a handshake; returns the stream and the
    /// `tls-exporter` channel-binding value (RFC 9266).
    pub async fn accept(
        &self,
        stream: Box<dyn Stream>,
    ) -> io::Result<(Box<dyn Stream>, Option<Vec<u8>>)> {
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor().accept(stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let exporter = tls
            .get_ref()
            .1
            .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
            .ok();
        Ok((Box::new(tls), exporter))
    }
}

#[async_trait]
impl TlsUpgrade for Tls {
    async fn upgrade(
        &self,
        stream: Box<dyn Stream>,
    ) -> io::Result<(Box<dyn Stream>, Option<Vec<u8>>)> {
        self.accept(stream).await
    }
}

fn build(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::Pem(cert_path.to_path_buf()))?;
    if certs.is_empty() {
        return Err(TlsError::Pem(cert_path.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| TlsError::Pem(key_path.to_path_buf()))?;
    let fingerprint: String = Sha256::digest(certs[0].as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    tracing::info!(path = %cert_path.display(), sha256 = %fingerprint, "TLS certificate loaded");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(config)
}

fn generate_self_signed(dir: &Path, cert: &Path, key: &Path) -> Result<(), TlsError> {
    let host = hostname();
    let names = vec![host, "localhost".to_string()];
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let write = |p: &Path, data: &str| -> Result<(), TlsError> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(p).map_err(|source| TlsError::Read {
            path: p.to_path_buf(),
            source,
        })?;
        f.write_all(data.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|source| TlsError::Read {
                path: p.to_path_buf(),
                source,
            })
    };
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    write(key, &generated.signing_key.serialize_pem())?;
    write(cert, &generated.cert.pem())?;
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
