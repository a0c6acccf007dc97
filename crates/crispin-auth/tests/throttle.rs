//! Failed-login counting against real accounts: what an attacker with one
//! valid account can and cannot do, and the cache of successful checks.

use crispin_auth::{AuthConfig, AuthError, AuthService, Authenticator, ConnInfo, credentials};
use crispin_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn conn(ip: &str) -> ConnInfo {
    ConnInfo {
        peer: format!("{ip}:40000").parse().unwrap(),
        tls: true,
        plaintext_ok: true,
        tls_exporter: None,
    }
}

async fn service(cfg: AuthConfig) -> (AuthService, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crispin_store::open(
        &crispin_store::StoreConfig {
            backend: crispin_store::Backend::default(),
            data_dir: dir.path().to_path_buf(),
        },
        crispin_store::OpenMode::CreateIfMissing,
    )
    .await
    .unwrap();
    for (name, pw) in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("mallory", "mallory-pw"),
    ] {
        store
            .create_account(name, &credentials(pw, &cfg).unwrap())
            .await
            .unwrap();
    }
    (AuthService::new(store, cfg, 100), dir)
}

fn cheap() -> AuthConfig {
    AuthConfig {
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        ..AuthConfig::default()
    }
}

async fn login(auth: &AuthService, user: &str, pw: &str, ip: &str) -> Result<(), AuthError> {
    auth.login(user.as_bytes(), pw.as_bytes(), &conn(ip))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_valid_account_does_not_reset_a_spray_at_the_others() {
    let (auth, _dir) = service(AuthConfig {
        lockout_after: 6,
        failures_before_delay: 100,
        ..cheap()
    })
    .await;
    let attacker = "10.0.0.1";
    // Two guesses, then a good login to the attacker's own account, again
    // and again: the guesses keep counting against the address.
    let mut guesses = 0;
    let mut refused = None;
    for round in 0..10 {
        for victim in ["alice", "bob"] {
            match login(&auth, victim, "guess", attacker).await {
                Err(AuthError::Failed) => guesses += 1,
                Err(AuthError::Throttled) => {
                    refused = Some(round);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        if refused.is_some() {
            break;
        }
        if login(&auth, "mallory", "mallory-pw", attacker)
            .await
            .is_err()
        {
            refused = Some(round);
            break;
        }
    }
    assert_eq!(
        guesses, 6,
        "the address is locked after lockout_after guesses"
    );
    assert_eq!(refused, Some(2), "the third good login is refused");
    // Locked out from there, the attacker's own account too...
    assert!(matches!(
        login(&auth, "mallory", "mallory-pw", attacker).await,
        Err(AuthError::Throttled)
    ));
    // ...but the victims, elsewhere, are not locked out by it.
    login(&auth, "alice", "alice-pw", "10.0.0.2").await.unwrap();
    login(&auth, "bob", "bob-pw", "10.0.0.3").await.unwrap();
}

#[tokio::test]
async fn a_success_forgets_its_own_typos_and_unlock_ends_a_lockout() {
    let (auth, _dir) = service(AuthConfig {
        lockout_after: 3,
        failures_before_delay: 100,
        ..cheap()
    })
    .await;
    let home = "10.0.0.9";
    for _ in 0..2 {
        assert!(login(&auth, "alice", "typo", home).await.is_err());
    }
    login(&auth, "alice", "alice-pw", home).await.unwrap();
    // The two typos are gone: two more do not lock her out.
    for _ in 0..2 {
        assert!(matches!(
            login(&auth, "alice", "typo", home).await,
            Err(AuthError::Failed)
        ));
    }
    login(&auth, "alice", "alice-pw", home).await.unwrap();
    for _ in 0..3 {
        let _ = login(&auth, "ALICE", "typo", home).await;
    }
    assert!(matches!(
        login(&auth, "alice", "alice-pw", home).await,
        Err(AuthError::Throttled)
    ));
    assert_eq!(auth.unlock("Alice"), 3);
    login(&auth, "alice", "alice-pw", home).await.unwrap();
}

/// The default argon2 cost once, then the cache: a repeated login is no
/// longer a hash (measured as a ratio, so a slow machine cannot fail it).
#[tokio::test]
async fn repeated_logins_hit_the_cache_and_a_new_password_misses_it() {
    let (auth, dir) = service(AuthConfig::default()).await;
    let _ = dir;
    let t = Instant::now();
    login(&auth, "alice", "alice-pw", "10.0.0.1").await.unwrap();
    let first = t.elapsed();
    let t = Instant::now();
    for _ in 0..20 {
        login(&auth, "alice", "alice-pw", "10.0.0.1").await.unwrap();
    }
    let repeated = t.elapsed() / 20;
    assert!(
        repeated * 10 < first,
        "cached login {repeated:?} against a hashed one {first:?}"
    );
    // A wrong password is never served from the cache.
    assert!(login(&auth, "alice", "wrong", "10.0.0.1").await.is_err());
    // Disabled: every login hashes.
    let (auth, _dir) = service(AuthConfig {
        cache_secs: 0,
        ..AuthConfig::default()
    })
    .await;
    login(&auth, "alice", "alice-pw", "10.0.0.1").await.unwrap();
    let t = Instant::now();
    login(&auth, "alice", "alice-pw", "10.0.0.1").await.unwrap();
    assert!(
        t.elapsed() * 10 > first / 2,
        "{:?} vs {first:?}",
        t.elapsed()
    );
    let _ = Duration::ZERO;
}
