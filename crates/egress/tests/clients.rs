//! More strict TLS clients through the proxy: Node.js, git (libcurl) and Go
//! each go through CONNECT, trust only the proxy's CA and must accept the
//! minted leaf; with an unrelated CA each must refuse it, so the check is
//! real. `scripts/test` installs nodejs, git and golang-go.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use bot_bottle_egress::ca::CertificateAuthority;
use common::*;

const REPO_REFS: &str = "/repo.git/info/refs?service=git-upload-pack";

fn routes_for(upstream: &Upstream) -> String {
    format!(
        "routes:\n  - host: \"{}\"\n    methods: [GET]\n    paths: [\"/echo\", \"/repo.git\"]\n",
        upstream_authority(upstream)
    )
}

/// A CA of the same kind as the proxy's but with another key: a client that
/// trusts only this one must refuse the proxy's leaves.
fn unrelated_ca(directory: &Path) -> PathBuf {
    let ca = CertificateAuthority::load_or_create(&directory.join("unrelated-ca")).unwrap();
    let path = directory.join("unrelated-ca.pem");
    std::fs::write(&path, ca.certificate_pem()).unwrap();
    path
}

/// A command with nothing from the caller's environment but `PATH` (no
/// `*_proxy`, `NO_PROXY`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`, git config).
fn clean_command(program: &str, home: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .kill_on_drop(true);
    command
}

/// Run to completion within `limit`; panics with the program's name when it
/// cannot start or takes too long.
async fn run(command: &mut tokio::process::Command, what: &str, limit: Duration) -> Output {
    tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {limit:?}"))
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const NODE_CLIENT: &str = r#"
const [proxyHost, proxyPort, caPath, host, port] = process.argv.slice(1);
const fs = require('fs'), http = require('http'), https = require('https'), tls = require('tls');
const fail = (error) => {
  console.error(`node error ${error.code || ''}: ${error.message}`);
  process.exit(1);
};
const connect = http.request({
  method: 'CONNECT', host: proxyHost, port: Number(proxyPort), path: `${host}:${port}`,
});
connect.on('error', fail);
connect.on('connect', (answer, socket) => {
  if (answer.statusCode !== 200) fail(new Error(`CONNECT answered ${answer.statusCode}`));
  const secure = tls.connect({ socket, servername: host, ca: fs.readFileSync(caPath) });
  secure.on('error', fail);
  secure.on('secureConnect', () => {
    const request = https.request({
      host, port: Number(port), path: '/echo', method: 'GET',
      createConnection: () => secure,
    }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => {
        console.log(`HTTP/${response.httpVersion} ${response.statusCode} ${response.statusMessage}`);
        console.log(body);
        process.exit(0);
      });
    });
    request.on('error', fail);
    request.end();
  });
});
connect.end();
"#;

async fn node(proxy: &Proxy, upstream: &Upstream, ca: &Path, home: &Path) -> Output {
    let mut command = clean_command("node", home);
    command
        .args(["-e", NODE_CLIENT])
        .arg(proxy.address.ip().to_string())
        .arg(proxy.address.port().to_string())
        .arg(ca)
        .arg(UPSTREAM_NAME)
        .arg(upstream.https.port().to_string());
    run(&mut command, "node", Duration::from_secs(30)).await
}

#[tokio::test]
async fn node_accepts_the_minted_leaf() {
    let upstream = start_upstream().await;
    let proxy = start_proxy(&routes_for(&upstream), &upstream, ProxyOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();

    let output = node(&proxy, &upstream, &proxy.ca_pem_path, scratch.path()).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("HTTP/1.1 200 "), "{stdout}{stderr}");
    assert!(stdout.contains("\"path\":\"/echo\""), "{stdout}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/echo");

    // Trusting another CA, node refuses the leaf and nothing reaches upstream.
    let other = unrelated_ca(scratch.path());
    let output = node(&proxy, &upstream, &other, scratch.path()).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains(" 200 "), "{stdout}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert_eq!(upstream.seen().len(), 1, "{:?}", upstream.seen());
    proxy.stop().await;
}

async fn git_ls_remote(proxy: &Proxy, upstream: &Upstream, ca: &Path, home: &Path) -> Output {
    let mut command = clean_command("git", home);
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .arg("-c")
        .arg(format!("http.proxy={}", proxy.url()))
        .arg("-c")
        .arg(format!("http.sslCAInfo={}", ca.display()))
        .args(["-c", "http.sslVerify=true", "ls-remote"])
        .arg(format!("https://{}/repo.git", upstream_authority(upstream)));
    run(&mut command, "git", Duration::from_secs(30)).await
}

#[tokio::test]
async fn git_accepts_the_minted_leaf() {
    let upstream = start_upstream().await;
    let proxy = start_proxy(&routes_for(&upstream), &upstream, ProxyOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();

    // The echo upstream is no git server, so ls-remote fails after the
    // request: what matters is that TLS verified and the request arrived.
    let output = git_ls_remote(&proxy, &upstream, &proxy.ca_pem_path, scratch.path()).await;
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("SSL"), "{stderr}");
    assert!(!stderr.contains("certificate"), "{stderr}");
    let seen = upstream.seen();
    assert!(
        seen.iter().any(|request| request.path == REPO_REFS),
        "{stderr}\n{seen:?}"
    );
    let before = seen.len();

    // Trusting another CA, git reports the certificate and sends nothing.
    let other = unrelated_ca(scratch.path());
    let output = git_ls_remote(&proxy, &upstream, &other, scratch.path()).await;
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    // OpenSSL and GnuTLS builds of libcurl word it differently.
    assert!(
        stderr.contains("SSL certificate problem")
            || stderr.contains("server certificate verification failed"),
        "{stderr}"
    );
    assert_eq!(upstream.seen().len(), before, "{:?}", upstream.seen());
    proxy.stop().await;
}

const GO_CLIENT: &str = r#"package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
)

func main() {
	proxyURL, err := url.Parse(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	pem, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fmt.Fprintln(os.Stderr, "no certificate in", os.Args[2])
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyURL(proxyURL),
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
	response, err := client.Get(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	fmt.Println(response.Proto, response.Status)
	fmt.Println(string(body))
}
"#;

/// Build the Go client once (the first build takes a while).
async fn build_go_client(scratch: &Path) -> PathBuf {
    let version = tokio::process::Command::new("go")
        .arg("version")
        .output()
        .await;
    if !matches!(&version, Ok(output) if output.status.success()) {
        panic!(
            "`go` is not installed or does not run ({version:?}): scripts/test installs \
             Debian's golang-go; run it, or `apt-get install golang-go`"
        );
    }
    let source = scratch.join("main.go");
    std::fs::write(&source, GO_CLIENT).unwrap();
    let binary = scratch.join("client");
    let mut command = go_command(scratch);
    command
        .current_dir(scratch)
        .args(["build", "-o"])
        .arg(&binary)
        .arg(&source);
    let output = run(&mut command, "go build", Duration::from_secs(300)).await;
    assert!(
        output.status.success(),
        "go build: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    binary
}

fn go_command(scratch: &Path) -> tokio::process::Command {
    let mut command = clean_command("go", &scratch.join("home"));
    command
        .env("GOCACHE", scratch.join("gocache"))
        .env("GOPATH", scratch.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0");
    command
}

async fn go_get(client: &Path, proxy: &Proxy, upstream: &Upstream, ca: &Path) -> Output {
    let mut command = clean_command(client.to_str().unwrap(), client.parent().unwrap());
    command
        .arg(proxy.url())
        .arg(ca)
        .arg(format!("https://{}/echo", upstream_authority(upstream)));
    run(&mut command, "the Go client", Duration::from_secs(30)).await
}

#[tokio::test]
async fn go_accepts_the_minted_leaf() {
    let upstream = start_upstream().await;
    let proxy = start_proxy(&routes_for(&upstream), &upstream, ProxyOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let client = build_go_client(scratch.path()).await;

    let output = go_get(&client, &proxy, &upstream, &proxy.ca_pem_path).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(" 200 OK\n"), "{stdout}");
    assert!(stdout.contains("\"path\":\"/echo\""), "{stdout}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/echo");

    // Trusting another CA, Go refuses the leaf and nothing reaches upstream.
    let other = unrelated_ca(scratch.path());
    let output = go_get(&client, &proxy, &upstream, &other).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("x509: certificate signed by unknown authority"),
        "{stderr}"
    );
    assert_eq!(upstream.seen().len(), 1, "{:?}", upstream.seen());
    proxy.stop().await;
}
