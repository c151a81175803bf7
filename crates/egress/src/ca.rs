//! The bottle's certificate authority and the leaf certificates it mints.
//!
//! The proxy terminates the agent's TLS, so it must present, for every host
//! the agent connects to, a certificate the agent trusts. The CA is made
//! once per bottle (`ca.pem` + `ca.key` in `--ca-dir`, the key file mode
//! 0600 and never copied anywhere; launch gives the agent only `ca.pem`).
//! Leaves are minted on demand per server name, cached, and carry what
//! strict clients check: a SubjectAltName for the name, SubjectKeyIdentifier
//! and AuthorityKeyIdentifier (Python 3.13+ refuses leaves without AKI),
//! `CA:FALSE`, the serverAuth extended key usage and a short validity.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::num::NonZeroUsize;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lru::LruCache;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use crate::routes::Host;

/// File name of the CA certificate in `--ca-dir`.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key in `--ca-dir` (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";
/// How long a new CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a minted leaf is valid (well under every client's maximum).
pub const LEAF_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);
/// How far back a certificate's `notBefore` is set, for clock skew.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(24 * 3600);
/// A cached leaf this close to expiry is minted again.
pub const LEAF_RENEWAL_MARGIN: Duration = Duration::from_secs(24 * 3600);
/// How many leaves are cached (least recently used are dropped).
pub const LEAF_CACHE_CAPACITY: usize = 1024;

/// The common name of a CA this module creates.
pub const CA_COMMON_NAME: &str = "bot-bottle egress CA";

/// Errors creating, loading or using the CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot create the CA directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{present} exists but {missing} does not: refusing to replace half a CA")]
    HalfPresent { present: PathBuf, missing: PathBuf },
    #[error("{path} is not a usable {what}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("{key} does not belong to the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot generate a key or certificate")]
    Generate(#[source] rcgen::Error),
    #[error("cannot mint a leaf certificate for {name}")]
    Leaf {
        name: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot load a minted key into rustls")]
    Rustls(#[source] rustls::Error),
}

struct CachedLeaf {
    key: Arc<CertifiedKey>,
    not_after: SystemTime,
}

/// The CA plus its leaf cache.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    certificate: CertificateDer<'static>,
    certificate_pem: String,
    provider: Arc<CryptoProvider>,
    leaves: Mutex<LruCache<String, CachedLeaf>>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Load `ca.pem` and `ca.key` from `directory`, or create both (the
    /// directory too) when neither exists.
    pub fn load_or_create(directory: &Path) -> Result<Self, CaError> {
        let cert_path = directory.join(CA_CERT_FILE);
        let key_path = directory.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::load(&cert_path, &key_path),
            (false, false) => Self::create(directory, &cert_path, &key_path),
            (true, false) => Err(CaError::HalfPresent {
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(CaError::HalfPresent {
                present: key_path,
                missing: cert_path,
            }),
        }
    }

    fn create(directory: &Path, cert_path: &Path, key_path: &Path) -> Result<Self, CaError> {
        fs::create_dir_all(directory).map_err(|source| CaError::CreateDir {
            path: directory.to_path_buf(),
            source,
        })?;
        let key = KeyPair::generate().map_err(CaError::Generate)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, CA_COMMON_NAME);
        name.push(DnType::OrganizationName, "bot-bottle");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW_ALLOWANCE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial());
        let certificate = params.self_signed(&key).map_err(CaError::Generate)?;
        let certificate_pem = certificate.pem();
        write_new_file(key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_new_file(cert_path, certificate_pem.as_bytes(), 0o644)?;
        Ok(Self::assemble(
            Issuer::new(params, key),
            certificate.der().clone(),
            certificate_pem,
        ))
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<Self, CaError> {
        let read = |path: &Path| {
            fs::read_to_string(path).map_err(|source| CaError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let certificate_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|source| CaError::Parse {
            path: key_path.to_path_buf(),
            what: "private key",
            source,
        })?;
        let certificate =
            CertificateDer::from_pem_slice(certificate_pem.as_bytes()).map_err(|_| {
                CaError::Parse {
                    path: cert_path.to_path_buf(),
                    what: "PEM certificate",
                    source: rcgen::Error::CouldNotParseCertificate,
                }
            })?;
        let issuer =
            Issuer::from_ca_cert_der(&certificate, key).map_err(|source| CaError::Parse {
                path: cert_path.to_path_buf(),
                what: "CA certificate",
                source,
            })?;
        let authority = Self::assemble(issuer, certificate, certificate_pem);
        authority.self_check().map_err(|_| CaError::Mismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        })?;
        Ok(authority)
    }

    fn assemble(
        issuer: Issuer<'static, KeyPair>,
        certificate: CertificateDer<'static>,
        certificate_pem: String,
    ) -> Self {
        let capacity = NonZeroUsize::new(LEAF_CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self {
            issuer,
            certificate,
            certificate_pem,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            leaves: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Mint a leaf and verify it against the CA certificate: catches a key
    /// that does not belong to the certificate.
    fn self_check(&self) -> Result<(), ()> {
        let leaf = self
            .leaf_for(&Host::Name("self-check.invalid".into()))
            .map_err(|_| ())?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.certificate.clone()).map_err(|_| ())?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|_| ())?;
        let name = rustls_pki_types::ServerName::try_from("self-check.invalid").map_err(|_| ())?;
        use rustls::client::danger::ServerCertVerifier;
        verifier
            .verify_server_cert(
                &leaf.cert[0],
                &leaf.cert[1..],
                &name,
                &[],
                rustls_pki_types::UnixTime::now(),
            )
            .map(|_| ())
            .map_err(|_| ())
    }

    /// The CA certificate, PEM (what the agent trusts).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// A certificate and key for `host`, from the cache or freshly minted.
    pub fn leaf_for(&self, host: &Host) -> Result<Arc<CertifiedKey>, CaError> {
        let cache_key = host.to_string();
        let now = SystemTime::now();
        if let Ok(mut cache) = self.leaves.lock()
            && let Some(cached) = cache.get(&cache_key)
            && cached.not_after > now + LEAF_RENEWAL_MARGIN
        {
            return Ok(cached.key.clone());
        }
        let (key, not_after) = self.mint(host)?;
        if let Ok(mut cache) = self.leaves.lock() {
            cache.put(
                cache_key,
                CachedLeaf {
                    key: key.clone(),
                    not_after,
                },
            );
        }
        Ok(key)
    }

    fn mint(&self, host: &Host) -> Result<(Arc<CertifiedKey>, SystemTime), CaError> {
        let name = host.to_string();
        let leaf_error = |source| CaError::Leaf {
            name: name.clone(),
            source,
        };
        let key = KeyPair::generate().map_err(leaf_error)?;
        let mut params = CertificateParams::default();
        let mut distinguished_name = DistinguishedName::new();
        match host {
            Host::Name(dns) => {
                distinguished_name.push(DnType::CommonName, dns.as_str());
                params.subject_alt_names = vec![SanType::DnsName(
                    dns.clone().try_into().map_err(leaf_error)?,
                )];
            }
            Host::Ip(address) => {
                distinguished_name.push(DnType::CommonName, address.to_string());
                params.subject_alt_names = vec![SanType::IpAddress(*address)];
            }
        }
        params.distinguished_name = distinguished_name;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW_ALLOWANCE;
        params.not_after = now + LEAF_VALIDITY;
        params.serial_number = Some(random_serial());
        let certificate = params.signed_by(&key, &self.issuer).map_err(leaf_error)?;
        let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing_key = self
            .provider
            .key_provider
            .load_private_key(private_key)
            .map_err(CaError::Rustls)?;
        let chain = vec![certificate.der().clone(), self.certificate.clone()];
        let not_after = SystemTime::now() + LEAF_VALIDITY;
        Ok((Arc::new(CertifiedKey::new(chain, signing_key)), not_after))
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive, and never a leading zero byte that DER would strip.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let write_error = |source| CaError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(write_error)?;
    // The umask may have narrowed the mode; make it exact.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(write_error)?;
    file.write_all(contents).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_loads_the_same_ca_with_a_private_key_file() {
        let directory = tempfile::tempdir().unwrap();
        let ca_dir = directory.path().join("ca");
        let created = CertificateAuthority::load_or_create(&ca_dir).unwrap();
        let mode = fs::metadata(ca_dir.join(CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = CertificateAuthority::load_or_create(&ca_dir).unwrap();
        assert_eq!(created.certificate_pem(), loaded.certificate_pem());
        loaded.self_check().unwrap();
    }

    #[test]
    fn refuses_half_a_ca_and_a_foreign_key() {
        let directory = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(directory.path()).unwrap();
        fs::remove_file(directory.path().join(CA_KEY_FILE)).unwrap();
        let error = CertificateAuthority::load_or_create(directory.path()).unwrap_err();
        assert!(matches!(error, CaError::HalfPresent { .. }), "{error}");

        let other = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(other.path()).unwrap();
        fs::copy(
            other.path().join(CA_KEY_FILE),
            directory.path().join(CA_KEY_FILE),
        )
        .unwrap();
        let error = CertificateAuthority::load_or_create(directory.path()).unwrap_err();
        assert!(matches!(error, CaError::Mismatch { .. }), "{error}");
    }

    #[test]
    fn leaves_are_cached_per_name() {
        let directory = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(directory.path()).unwrap();
        let first = ca.leaf_for(&Host::Name("a.example".into())).unwrap();
        let again = ca.leaf_for(&Host::Name("a.example".into())).unwrap();
        let other = ca.leaf_for(&Host::Name("b.example".into())).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
