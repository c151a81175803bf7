//! The command-line grammar (clap types only; no behaviour).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run coding agents with every permission prompt off, safely, in bottles.
#[derive(Debug, Parser)]
#[command(name = "bot-bottle", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show, check and describe bottle manifests.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// List and answer the proposals sidecars file for the operator.
    #[command(subcommand)]
    Proposals(ProposalsCommand),
    /// The operator's terminal UI over every bottle's queue.
    Supervise(SuperviseArgs),
    /// Scan files for held secrets and credential shapes.
    #[command(subcommand)]
    Dlp(DlpCommand),
    /// The git gate's helpers: the agent's git configuration, deploy keys.
    #[command(subcommand)]
    GitGate(crate::commands::gitgate::GitGateCommand),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Run a sidecar inside a bottle (`egress`, `git-gate`, `supervise`).
    #[command(subcommand)]
    Sidecar(crate::commands::sidecar::SidecarCommand),
}

/// Output format of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

/// Format of `dlp scan --rules` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// By file name: `.gitleaks.toml` / `gitleaks.toml` are gitleaks configs.
    Auto,
    /// The DLP engine's own rule format (`[[rule]]`).
    BotBottle,
    /// A gitleaks v8 config (`[[rules]]`), translated; what does not map is
    /// reported on standard error.
    Gitleaks,
}

/// Output format of `manifest show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum YamlOrJson {
    Yaml,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Resolve a bottle by name (following `extends:`) and print it.
    Show(ManifestShowArgs),
    /// Check manifest files; lists every error in every file.
    Check(ManifestCheckArgs),
    /// Print the JSON Schema of a bottle manifest.
    Schema,
}

#[derive(Debug, Args)]
pub struct ManifestShowArgs {
    /// Bottle name.
    pub name: String,
    /// Look for bottles in this directory first.
    #[arg(long, value_name = "DIR")]
    pub bottles: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = YamlOrJson::Yaml)]
    pub format: YamlOrJson,
    /// Show, for every resolved value, which bottle file set it.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ManifestCheckArgs {
    /// Manifest files to check.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Look for parent bottles in this directory first.
    #[arg(long, value_name = "DIR")]
    pub bottles: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// One bottle's queue directory (default: every queue under
    /// `$XDG_STATE_HOME/bot-bottle/`).
    #[arg(long, value_name = "DIR")]
    pub queue: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    #[command(flatten)]
    pub queue: QueueArgs,
}

#[derive(Debug, Subcommand)]
pub enum ProposalsCommand {
    /// List proposals, pending first.
    List {
        #[command(flatten)]
        queue: QueueArgs,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
        /// Also list processed proposals (archived by the sidecar that acted).
        #[arg(long)]
        all: bool,
    },
    /// Show one proposal in full.
    Show {
        id: String,
        #[command(flatten)]
        queue: QueueArgs,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Approve a proposal.
    Approve {
        id: String,
        #[command(flatten)]
        queue: QueueArgs,
        /// Why (required for report-only kinds).
        #[arg(long)]
        reason: Option<String>,
        /// Grant this route (a YAML file) instead of the one asked for.
        #[arg(long, value_name = "FILE")]
        modify: Option<PathBuf>,
    },
    /// Reject a proposal.
    Reject {
        id: String,
        #[command(flatten)]
        queue: QueueArgs,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Answer a capability-block proposal in words.
    Answer {
        id: String,
        #[command(flatten)]
        queue: QueueArgs,
        /// The answer the agent receives.
        #[arg(long)]
        text: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlpCommand {
    /// Scan files (or `-` for standard input) with the sidecar's detectors.
    Scan(DlpScanArgs),
}

#[derive(Debug, Args)]
pub struct DlpScanArgs {
    /// Files to scan; `-` or nothing reads standard input.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Comma list of detectors: known, patterns, unicode, crlf, entropy, all.
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub detectors: String,
    /// Extra rule files (TOML): the DLP engine's rule format, or a gitleaks
    /// v8 config (see --rules-format).
    #[arg(long, value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Format of the --rules files. `auto`: a file named `.gitleaks.toml` or
    /// `gitleaks.toml` is a gitleaks config, any other the engine's format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = RulesFormat::Auto)]
    pub rules_format: RulesFormat,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// Write the scrubbed input to standard output.
    #[arg(long)]
    pub redact: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for.
    pub shell: clap_complete::Shell,
}
