//! Deploy-key provisioning's two bounds: a Gitea API that never answers
//! and an `ssh-keygen` that does not finish in time each end in a typed
//! error that names what timed out, within the bound.
//! (The happy path and the 422 collision run through the CLI in
//! `crates/cli/tests/gitgate.rs`.)

use std::time::{Duration, Instant};

use bot_bottle_gitgate::GateError;
use bot_bottle_gitgate::deploy_key::{Gitea, generate_key};
use bot_bottle_secret::Redacted;

#[tokio::test]
async fn a_gitea_that_never_answers_is_a_timeout_naming_the_url() {
    // Accepts the connection, reads nothing, answers nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let bound = Duration::from_millis(500);
    let gitea = Gitea::new(
        &format!("http://{address}"),
        Redacted::new("token".to_string()),
        bound,
    )
    .unwrap();
    let started = Instant::now();
    let error = gitea
        .add_deploy_key("owner/app", "bottle", "ssh-ed25519 AAAA test")
        .await
        .unwrap_err();
    let took = started.elapsed();
    match &error {
        GateError::ForgeTimeout { url, timeout } => {
            assert_eq!(
                url,
                &format!("http://{address}/api/v1/repos/owner/app/keys")
            );
            assert_eq!(*timeout, bound);
        }
        other => panic!("expected a forge timeout, got {other:?}"),
    }
    assert!(
        error.to_string().contains("did not answer within"),
        "{error}"
    );
    assert!(took >= bound && took < Duration::from_secs(10), "{took:?}");
    held.abort();
}

#[tokio::test]
async fn a_key_generation_past_its_bound_is_a_timeout_naming_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy_key");
    // The public key's file is a FIFO nobody reads: ssh-keygen, having
    // written the private key, blocks opening it until it is killed.
    let fifo = dir.path().join("deploy_key.pub");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let bound = Duration::from_millis(500);
    let started = Instant::now();
    let error = generate_key(&path, "bottle", bound).await.unwrap_err();
    let took = started.elapsed();
    match &error {
        GateError::Timeout { command, timeout } => {
            assert!(command.contains("ssh-keygen"), "{command}");
            assert_eq!(*timeout, bound);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(took >= bound && took < Duration::from_secs(10), "{took:?}");
    // With room to run, the same call makes the key pair.
    let other = dir.path().join("second_key");
    let pair = generate_key(&other, "bottle", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        pair.public_key.starts_with("ssh-ed25519 "),
        "{}",
        pair.public_key
    );
    assert!(pair.private_key.exists());
}
