//! `bot-bottle manifest show|check|schema`.
//!
//! Wiring only: the search path is built here from `--bottles`, the working
//! directory and `environment::config_dir()`; everything else is
//! `bot_bottle_manifest`. Problems with a manifest go to standard error, one
//! per line, and make the exit code 1 ([`exit::BAD`]).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use bot_bottle_manifest::{ResolvedBottle, Resolver, SearchPath};

use crate::args::{ManifestCheckArgs, ManifestCommand, ManifestShowArgs, YamlOrJson};
use crate::environment;
use crate::exit;

pub fn run(command: ManifestCommand) -> anyhow::Result<u8> {
    match command {
        ManifestCommand::Show(args) => show(&args),
        ManifestCommand::Check(args) => check(&args),
        ManifestCommand::Schema => schema(),
    }
}

/// `--bottles DIR`, `./.bot-bottle/bottles/`,
/// `$XDG_CONFIG_HOME/bot-bottle/bottles/`, then the built-ins. The working
/// directory is written `.` so that messages show short relative paths.
fn search_path(bottles: Option<&Path>) -> SearchPath {
    SearchPath::standard(
        bottles.map(Path::to_path_buf),
        Path::new("."),
        environment::config_dir(),
    )
}

fn print_errors(errors: &bot_bottle_manifest::Errors) {
    eprintln!("{errors}");
}

fn show(args: &ManifestShowArgs) -> anyhow::Result<u8> {
    let mut resolver = Resolver::new(search_path(args.bottles.as_deref()));
    let bottle = match resolver.resolve(&args.name) {
        Ok(bottle) => bottle,
        Err(errors) => {
            print_errors(&errors);
            return Ok(exit::BAD);
        }
    };
    let text = if args.explain {
        explain(&bottle, args.format)?
    } else {
        match args.format {
            YamlOrJson::Yaml => serde_saphyr::to_string(&bottle).context("rendering YAML")?,
            YamlOrJson::Json => {
                let mut json = serde_json::to_string_pretty(&bottle).context("rendering JSON")?;
                json.push('\n');
                json
            }
        }
    };
    write_stdout(&text)?;
    Ok(exit::SUCCESS)
}

fn explain(bottle: &ResolvedBottle, format: YamlOrJson) -> anyhow::Result<String> {
    Ok(match format {
        YamlOrJson::Yaml => bottle.explain_text(),
        YamlOrJson::Json => {
            let lines: Vec<serde_json::Value> = bottle
                .explain()
                .into_iter()
                .map(|line| {
                    serde_json::json!({
                        "path": line.path.to_string(),
                        "value": serde_json::from_str::<serde_json::Value>(&line.value)
                            .unwrap_or(serde_json::Value::String(line.value.clone())),
                        "source": line.provenance.to_string(),
                    })
                })
                .collect();
            let mut json = serde_json::to_string_pretty(&lines).context("rendering JSON")?;
            json.push('\n');
            json
        }
    })
}

fn check(args: &ManifestCheckArgs) -> anyhow::Result<u8> {
    let search = search_path(args.bottles.as_deref());
    let mut all_ok = true;
    for path in &args.paths {
        match Resolver::check_file(&search, path) {
            Ok(_) => write_stdout(&format!("ok: {}\n", path.display()))?,
            Err(errors) => {
                all_ok = false;
                print_errors(&errors);
            }
        }
    }
    Ok(if all_ok { exit::SUCCESS } else { exit::BAD })
}

fn schema() -> anyhow::Result<u8> {
    let mut text = serde_json::to_string_pretty(&bot_bottle_manifest::json_schema())
        .context("rendering the schema")?;
    text.push('\n');
    write_stdout(&text)?;
    Ok(exit::SUCCESS)
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`| head`) is not a failure of ours.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to standard output"),
    }
}
