//! Gathers a benign corpus of real text from this machine: Rust sources,
//! manifests and lockfiles from the cargo registry, Debian documentation,
//! JavaScript libraries and minified JavaScript, and base64 of PNG images.
//! Shared by the benign-corpus test and `examples/measure_partial.rs`.

use std::fs;
use std::path::{Path, PathBuf};

/// Largest slice taken from one file (bytes).
const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Most bytes taken from one directory directly under a source root (one
/// crate, one package's docs), so one big package cannot dominate.
const MAX_PER_PACKAGE: usize = 256 * 1024;

/// One source of text and how much of it to take.
struct Source {
    label: &'static str,
    roots: Vec<PathBuf>,
    extensions: &'static [&'static str],
    quota: usize,
    base64: bool,
}

/// What was gathered.
pub struct Corpus {
    /// `(path, bytes)` of every piece, base64 already applied.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub total: usize,
    /// `label: roots (bytes taken)` for every source, for failure messages.
    pub looked: Vec<String>,
}

fn cargo_registry() -> Vec<PathBuf> {
    let mut homes = Vec::new();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        homes.push(PathBuf::from(cargo_home));
    }
    if let Some(home) = std::env::var_os("HOME") {
        homes.push(PathBuf::from(home).join(".cargo"));
    }
    let mut roots = Vec::new();
    for home in homes {
        let Ok(entries) = fs::read_dir(home.join("registry/src")) else {
            continue;
        };
        let mut indexes: Vec<PathBuf> = entries
            .filter_map(|entry| Some(entry.ok()?.path()))
            .collect();
        indexes.sort();
        for index in indexes {
            if !roots.contains(&index) {
                roots.push(index);
            }
        }
    }
    roots
}

fn rustup_docs() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    let toolchains = PathBuf::from(home).join(".rustup/toolchains");
    let Ok(entries) = fs::read_dir(&toolchains) else {
        return Vec::new();
    };
    let mut roots: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path().join("share/doc/rust/html")))
        .filter(|path| path.is_dir())
        .collect();
    roots.sort();
    roots.truncate(1);
    roots
}

fn sources() -> Vec<Source> {
    vec![
        Source {
            label: "Rust sources and manifests in the cargo registry",
            roots: cargo_registry(),
            extensions: &["rs", "md", "toml"],
            quota: 10 * 1024 * 1024,
            base64: false,
        },
        Source {
            label: "lockfiles in the cargo registry",
            roots: cargo_registry(),
            extensions: &["lock"],
            quota: 1024 * 1024,
            base64: false,
        },
        Source {
            label: "Debian documentation (uncompressed)",
            roots: vec![PathBuf::from("/usr/share/doc")],
            extensions: &["html", "txt", "md", "rst", "json", "", "copyright"],
            quota: 8 * 1024 * 1024,
            base64: false,
        },
        Source {
            label: "JavaScript libraries and minified JavaScript",
            roots: [vec![PathBuf::from("/usr/share/javascript")], rustup_docs()].concat(),
            extensions: &["js"],
            quota: 2 * 1024 * 1024,
            base64: false,
        },
        Source {
            label: "base64 of PNG images under /usr/share",
            roots: vec![
                PathBuf::from("/usr/share/icons"),
                PathBuf::from("/usr/share/doc"),
                PathBuf::from("/usr/share/pixmaps"),
            ],
            extensions: &["png"],
            quota: 3 * 1024 * 1024,
            base64: true,
        },
    ]
}

fn extension_matches(path: &Path, extensions: &[&str]) -> bool {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    match path.extension().and_then(|extension| extension.to_str()) {
        Some(extension) => extensions.contains(&extension) || extensions.contains(&name),
        None => extensions.contains(&""),
    }
}

/// Files under `root` in sorted order (depth-first), skipping symlinks.
fn walk(root: &Path, out: &mut Vec<PathBuf>, limit: usize) {
    if out.len() >= limit {
        return;
    }
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .collect();
    paths.sort();
    for path in paths {
        let Ok(metadata) = fs::symlink_metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            walk(&path, out, limit);
        } else if metadata.is_file() {
            out.push(path);
        }
        if out.len() >= limit {
            return;
        }
    }
}

fn base64(bytes: &[u8]) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into_bytes()
}

/// Gather at least `target` bytes if the machine has them.
pub fn gather() -> Corpus {
    let mut files = Vec::new();
    let mut total = 0;
    let mut looked = Vec::new();
    for source in sources() {
        let mut taken = 0;
        for root in &source.roots {
            let Ok(packages) = fs::read_dir(root) else {
                continue;
            };
            let mut packages: Vec<PathBuf> = packages
                .filter_map(|entry| Some(entry.ok()?.path()))
                .collect();
            packages.sort();
            for package in packages {
                if taken >= source.quota {
                    break;
                }
                let mut paths = Vec::new();
                if package.is_dir() {
                    walk(&package, &mut paths, 5000);
                } else {
                    paths.push(package.clone());
                }
                let mut package_taken = 0;
                for path in paths {
                    if taken >= source.quota || package_taken >= MAX_PER_PACKAGE {
                        break;
                    }
                    if !extension_matches(&path, source.extensions) {
                        continue;
                    }
                    let Ok(mut bytes) = fs::read(&path) else {
                        continue;
                    };
                    if source.base64 {
                        bytes = base64(&bytes);
                    } else if bytes.iter().take(8192).any(|byte| *byte == 0) {
                        continue;
                    }
                    bytes.truncate(MAX_FILE_BYTES.min(MAX_PER_PACKAGE - package_taken));
                    taken += bytes.len();
                    package_taken += bytes.len();
                    files.push((path, bytes));
                }
            }
        }
        total += taken;
        let roots: Vec<String> = source
            .roots
            .iter()
            .map(|root| root.display().to_string())
            .collect();
        looked.push(format!(
            "{}: {} ({} bytes)",
            source.label,
            roots.join(", "),
            taken
        ));
    }
    Corpus {
        files,
        total,
        looked,
    }
}
