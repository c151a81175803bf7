//! `bot-bottle git-gate …` (the agent's git configuration, deploy keys) and
//! `bot-bottle sidecar git-gate` (the git sidecar itself).
//!
//! Wiring only: arguments and the environment are read here, once, and the
//! `bot_bottle_gitgate` library gets typed values. The sidecar exits 64 on a
//! bad configuration (unreadable or invalid `--config`, a `token_env` that is
//! not set, a queue directory it cannot create) before anything listens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bot_bottle_dlp::{HeldSecret, Scanner, ScannerConfig};
use bot_bottle_gitgate::deploy_key::{FORGE_API_TIMEOUT, Gitea, KEYGEN_TIMEOUT, generate_key};
use bot_bottle_gitgate::{
    Approver, Config, Credential, DlpScanner, GateFile, NoApprover, QueueApprover, Timeouts,
    gitconfig,
};
use bot_bottle_secret::Redacted;
use clap::{Args, Subcommand, ValueEnum};

use super::sidecar::config_error;
use crate::environment;
use crate::exit::{self, Failure};

#[derive(Debug, Subcommand)]
pub enum GitGateCommand {
    /// Print the git configuration that points the agent's git at the gate
    /// (`url.<gate>/<name>.git.insteadOf <upstream>`, `user.name`,
    /// `user.email`), in git config file format.
    Gitconfig(GitconfigArgs),
    /// Generate an SSH deploy key and register it on a forge (Gitea). The
    /// API token comes from `GITEA_TOKEN`.
    ProvisionKey(ProvisionKeyArgs),
}

#[derive(Debug, Args)]
pub struct GitconfigArgs {
    /// YAML in the schema of a manifest's `git-gate:` section.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The gate's URL as the agent reaches it (`http://git-gate:8080`).
    #[arg(long, value_name = "URL")]
    pub gate: String,
}

/// Forges whose deploy-key API is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Forge {
    Gitea,
}

#[derive(Debug, Args)]
pub struct ProvisionKeyArgs {
    #[arg(long, value_enum)]
    pub forge: Forge,
    /// The forge's base URL (`https://gitea.example.com`).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The repository, `OWNER/NAME`.
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: String,
    /// The key's title on the forge (unique per repository).
    #[arg(long)]
    pub title: String,
    /// Where to write the private key (`.pub` next to it); default
    /// `./deploy-key-<title>` with unsafe characters replaced.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
}

/// `bot-bottle sidecar git-gate`.
#[derive(Debug, Args)]
pub struct SidecarArgs {
    /// YAML in the schema of a manifest's `git-gate:` section. Tokens come
    /// from the variables its repos name in `token_env`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Address to listen on (`0.0.0.0:8080`; port 0 picks one, logged).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Also serve the git daemon protocol (git://, fetch only) here.
    #[arg(long, value_name = "ADDR")]
    pub daemon_listen: Option<SocketAddr>,
    /// Directory for the mirrors and the gate's own state.
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// The bottle's proposal queue; without it a push with a finding is
    /// refused (nobody to ask).
    #[arg(long, value_name = "DIR")]
    pub queue: Option<PathBuf>,
    /// The bottle's name, recorded in proposals (default: the queue
    /// directory's name).
    #[arg(long)]
    pub bottle: Option<String>,
    /// Extra roots trusted for HTTPS upstreams (a forge behind a private
    /// CA), PEM; the system roots stay trusted. Repeatable.
    #[arg(long, value_name = "PEM")]
    pub upstream_ca: Vec<PathBuf>,
}

pub fn run(command: GitGateCommand) -> anyhow::Result<u8> {
    match command {
        GitGateCommand::Gitconfig(arguments) => gitconfig_command(&arguments),
        GitGateCommand::ProvisionKey(arguments) => provision_key(&arguments),
    }
}

fn gitconfig_command(arguments: &GitconfigArgs) -> anyhow::Result<u8> {
    let file = GateFile::load(&arguments.config)?;
    let text = gitconfig::render(&file, &arguments.gate)?;
    print!("{text}");
    Ok(exit::SUCCESS)
}

/// A file name from a key title: letters, digits, `.`, `_`, `-`.
fn key_file_name(title: &str) -> String {
    let cleaned: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("deploy-key-{}", cleaned.trim_start_matches('.'))
}

fn provision_key(arguments: &ProvisionKeyArgs) -> anyhow::Result<u8> {
    let Some(token) = environment::gitea_token() else {
        return Err(Failure::usage(format!(
            "set {} to a Gitea API token that may add deploy keys to {}",
            environment::GITEA_TOKEN,
            arguments.repo
        )));
    };
    let Forge::Gitea = arguments.forge;
    bot_bottle_gitgate::deploy_key::validate_repo_path(&arguments.repo)?;
    let gitea = Gitea::new(&arguments.url, Redacted::new(token), FORGE_API_TIMEOUT)?;
    let key_file = arguments
        .key_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(key_file_name(&arguments.title)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let pair = generate_key(&key_file, &arguments.title, KEYGEN_TIMEOUT).await?;
        match gitea
            .add_deploy_key(&arguments.repo, &arguments.title, &pair.public_key)
            .await
        {
            Ok(registered) => {
                println!("private key: {}", pair.private_key.display());
                println!("public key:  {}", pair.public_key);
                println!(
                    "registered on {} as deploy key {} ({:?}, read-write)",
                    arguments.repo, registered.id, arguments.title
                );
                Ok(exit::SUCCESS)
            }
            Err(error) => {
                // Nothing registered: leave nothing behind, so a retry can
                // use the same path.
                remove_key_pair(&pair.private_key);
                Err(error.into())
            }
        }
    })
}

fn remove_key_pair(private_key: &Path) {
    let _ = std::fs::remove_file(private_key);
    let _ = std::fs::remove_file(format!("{}.pub", private_key.display()));
}

/// `bot-bottle sidecar git-gate`.
pub fn sidecar(arguments: SidecarArgs) -> anyhow::Result<u8> {
    let file = GateFile::load(&arguments.config).map_err(config_error)?;
    let repos = file
        .with_credentials(environment::variable)
        .map_err(config_error)?;
    // The detectors egress uses, plus the gate's own tokens as held
    // secrets: a push must never carry the credential the gate holds.
    let mut held: Vec<HeldSecret> = environment::held_secrets()
        .into_iter()
        .map(|(name, value)| HeldSecret::new(name, value))
        .collect();
    for (entry, repo) in file.repos.iter().zip(&repos) {
        if let (
            Credential::Token(token),
            bot_bottle_gitgate::config::CredentialSource::TokenEnv(variable),
        ) = (&repo.credential, &entry.credential)
        {
            held.push(HeldSecret::new(variable.clone(), token.expose().clone()));
        }
    }
    let scanner = Scanner::new(ScannerConfig {
        held,
        ..ScannerConfig::default()
    })
    .map_err(config_error)?;
    let approver: Arc<dyn Approver> = match &arguments.queue {
        Some(dir) => {
            let queue = bot_bottle_queue::Queue::create(dir).map_err(config_error)?;
            let bottle = arguments.bottle.clone().unwrap_or_else(|| {
                dir.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "bottle".to_string())
            });
            Arc::new(QueueApprover::new(queue, bottle))
        }
        None => {
            tracing::warn!("no --queue: a push with a possible secret will be refused");
            Arc::new(NoApprover)
        }
    };
    std::fs::create_dir_all(&arguments.state)
        .with_context(|| format!("cannot create --state {}", arguments.state.display()))
        .map_err(config_error)?;
    bot_bottle_gitgate::mirror::install_upstream_ca(&arguments.state, &arguments.upstream_ca)
        .map_err(config_error)?;
    let config = Config {
        state_dir: arguments.state.clone(),
        repos,
        scanner: Arc::new(DlpScanner(scanner)),
        approver,
        timeouts: Timeouts::default(),
        scan_limits: Default::default(),
        receive_memory: Default::default(),
        proposal_rate: Default::default(),
    };
    super::sidecar::block_on(async move {
        let listener = super::sidecar::bind(arguments.listen).await?;
        let daemon = match arguments.daemon_listen {
            Some(address) => Some(super::sidecar::bind(address).await?),
            None => None,
        };
        bot_bottle_gitgate::run_with_daemon(listener, daemon, config, super::sidecar::termination())
            .await
            .map_err(|error| {
                if error.is_config() {
                    config_error(error)
                } else {
                    anyhow::Error::new(error).context("the git gate failed")
                }
            })
    })?;
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_names_are_safe() {
        assert_eq!(key_file_name("bottle dev/1"), "deploy-key-bottle-dev-1");
        assert_eq!(key_file_name("../x"), "deploy-key--x");
    }
}
