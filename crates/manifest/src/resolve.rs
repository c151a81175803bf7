//! `extends:` resolution: find parents, fold them, merge the child on top.
//!
//! Each bottle becomes a `Layer`: its own values, each tagged with the
//! file and line that set it. A bottle's resolved layer is its parents'
//! resolved layers folded left to right into one combined parent, with the
//! bottle's own layer merged on top (`Layer::overlay` holds every fold
//! rule). Parents are resolved independently, so a shared ancestor (a
//! diamond) is resolved once and memoised; its routes are not repeated.
//!
//! Successful resolutions are cached for the life of a [`Resolver`]: a
//! bottle's layer depends only on the bottles below it. Errors name the
//! chain from the bottle asked for, so they are cached only within one
//! top-level call; that keeps every message independent of what was
//! resolved before.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Chain, Diagnostic, Diagnostics, Error, Errors, Source};
use crate::file::{ParsedFile, parse_manifest};
use crate::model::{AgentProvider, BottleFile, EgressLog, Extends, Route};
use crate::resolved::{
    DEFAULT_DETECTORS, DEFAULT_EGRESS_LOG, DEFAULT_PROVIDER_ON_MATCH, DEFAULT_SUPERVISE, Origin,
    Provenance, ResolvedBottle, ResolvedDlp, ResolvedEgress, ResolvedGitGate, ResolvedPush,
    ResolvedRepo, ResolvedRoute, provider_routes,
};
use crate::search::{Found, SearchPath, same_file};
use crate::tree::{FieldPath, NodeKind};

/// The deepest `extends:` chain followed. Real hierarchies are a handful of
/// levels; the limit keeps a generated or malicious graph from exhausting
/// the stack.
pub const MAX_EXTENDS_DEPTH: usize = 32;

/// A value and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sourced<T> {
    value: T,
    origin: Origin,
}

/// The agent image: one choice, whichever of `image` / `dockerfile` a
/// bottle set last.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AgentImage {
    Image(String),
    Dockerfile(PathBuf),
}

/// One repository, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LayerRepo {
    name: Sourced<String>,
    upstream: Option<Sourced<String>>,
    token_env: Option<Sourced<String>>,
    deploy_key: Option<Sourced<String>>,
    push_refs: Option<Sourced<Vec<String>>>,
    push_force: Option<Sourced<bool>>,
    push_delete: Option<Sourced<bool>>,
}

/// One route and the identity used to drop a diamond's repeated copy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LayerRoute {
    route: Route,
    origin: Origin,
    /// Where each field written in the route was set.
    fields: Vec<(String, Origin)>,
    /// The file and index it was written at.
    identity: (Source, usize),
}

/// The values of one bottle, or of several folded together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Layer {
    description: Option<Sourced<String>>,
    agent_provider: Option<Sourced<AgentProvider>>,
    supervise: Option<Sourced<bool>>,
    env: BTreeMap<String, Sourced<String>>,
    image: Option<Sourced<AgentImage>>,
    user_name: Option<Sourced<String>>,
    user_email: Option<Sourced<String>>,
    repos: Vec<LayerRepo>,
    log: Option<Sourced<EgressLog>>,
    routes: Vec<LayerRoute>,
    detectors: Option<Sourced<Vec<String>>>,
}

fn overlay_option<T: Clone>(base: &mut Option<T>, top: &Option<T>) {
    if top.is_some() {
        base.clone_from(top);
    }
}

impl Layer {
    /// Merge `top` over `self`: the fold rules.
    ///
    /// - scalars (`description`, `agent_provider`, `supervise`, the agent
    ///   image, `egress.log`, `egress.dlp.outbound_detectors`): last wins;
    /// - `env`: dict merge, later wins on a key;
    /// - `git-gate.user`: per-field overlay;
    /// - `git-gate.repos`: union by `name`, later wins per field (the push
    ///   policy's `refs`, `force` and `delete` each count as a field);
    /// - `egress.routes`: concatenated in order, a route from the same file
    ///   and index appearing once (diamonds).
    fn overlay(&mut self, top: &Layer) {
        overlay_option(&mut self.description, &top.description);
        overlay_option(&mut self.agent_provider, &top.agent_provider);
        overlay_option(&mut self.supervise, &top.supervise);
        overlay_option(&mut self.image, &top.image);
        overlay_option(&mut self.log, &top.log);
        overlay_option(&mut self.detectors, &top.detectors);
        for (key, value) in &top.env {
            self.env.insert(key.clone(), value.clone());
        }
        overlay_option(&mut self.user_name, &top.user_name);
        overlay_option(&mut self.user_email, &top.user_email);
        for repo in &top.repos {
            match self
                .repos
                .iter_mut()
                .find(|existing| existing.name.value == repo.name.value)
            {
                Some(existing) => {
                    overlay_option(&mut existing.upstream, &repo.upstream);
                    overlay_option(&mut existing.token_env, &repo.token_env);
                    overlay_option(&mut existing.deploy_key, &repo.deploy_key);
                    overlay_option(&mut existing.push_refs, &repo.push_refs);
                    overlay_option(&mut existing.push_force, &repo.push_force);
                    overlay_option(&mut existing.push_delete, &repo.push_delete);
                }
                None => self.repos.push(repo.clone()),
            }
        }
        for route in &top.routes {
            if !self
                .routes
                .iter()
                .any(|existing| existing.identity == route.identity)
            {
                self.routes.push(route.clone());
            }
        }
    }

    /// The layer of one valid file, on its own.
    fn of_file(parsed: &ParsedFile, file: &BottleFile) -> Self {
        let origin = |path: FieldPath| Origin {
            source: parsed.source.clone(),
            line: parsed.line_of(&path),
        };
        let root = FieldPath::root();
        let mut layer = Layer {
            description: file
                .description
                .clone()
                .map(|value| sourced(parsed, root.key("description"), value)),
            agent_provider: file
                .agent_provider
                .map(|value| sourced(parsed, root.key("agent_provider"), value)),
            supervise: file
                .supervise
                .map(|value| sourced(parsed, root.key("supervise"), value)),
            ..Layer::default()
        };
        for (key, value) in &file.env {
            layer.env.insert(
                key.clone(),
                sourced(parsed, root.key("env").key(key), value.clone()),
            );
        }
        if let Some(image) = &file.image {
            layer.image = Some(sourced(
                parsed,
                root.key("image"),
                AgentImage::Image(image.clone()),
            ));
        }
        if let Some(dockerfile) = &file.dockerfile {
            layer.image = Some(sourced(
                parsed,
                root.key("dockerfile"),
                AgentImage::Dockerfile(anchor(&parsed.source, dockerfile)),
            ));
        }
        if let Some(git_gate) = &file.git_gate {
            let gate = root.key("git-gate");
            if let Some(user) = &git_gate.user {
                layer.user_name = user
                    .name
                    .clone()
                    .map(|value| sourced(parsed, gate.key("user").key("name"), value));
                layer.user_email = user
                    .email
                    .clone()
                    .map(|value| sourced(parsed, gate.key("user").key("email"), value));
            }
            for (index, repo) in git_gate.repos.iter().enumerate() {
                let at = gate.key("repos").index(index);
                let push = repo.push.as_ref();
                layer.repos.push(LayerRepo {
                    name: sourced(parsed, at.key("name"), repo.name.clone()),
                    upstream: repo
                        .upstream
                        .clone()
                        .map(|value| sourced(parsed, at.key("upstream"), value)),
                    token_env: repo
                        .token_env
                        .clone()
                        .map(|value| sourced(parsed, at.key("token_env"), value)),
                    deploy_key: repo
                        .deploy_key
                        .clone()
                        .map(|value| sourced(parsed, at.key("deploy_key"), value)),
                    push_refs: push
                        .and_then(|push| push.refs.clone())
                        .map(|value| sourced(parsed, at.key("push").key("refs"), value)),
                    push_force: push
                        .and_then(|push| push.force)
                        .map(|value| sourced(parsed, at.key("push").key("force"), value)),
                    push_delete: push
                        .and_then(|push| push.delete)
                        .map(|value| sourced(parsed, at.key("push").key("delete"), value)),
                });
            }
        }
        if let Some(egress) = &file.egress {
            let at = root.key("egress");
            layer.log = egress
                .log
                .map(|value| sourced(parsed, at.key("log"), value));
            layer.detectors = egress
                .dlp
                .as_ref()
                .and_then(|dlp| dlp.outbound_detectors.clone())
                .map(|value| sourced(parsed, at.key("dlp").key("outbound_detectors"), value));
            for (index, route) in egress.routes.iter().enumerate() {
                let route_path = at.key("routes").index(index);
                let fields = match parsed.tree.get(&route_path).map(|node| &node.kind) {
                    Some(NodeKind::Map(entries)) => entries
                        .iter()
                        .map(|entry| (entry.key.clone(), origin(route_path.key(&entry.key))))
                        .collect(),
                    _ => Vec::new(),
                };
                layer.routes.push(LayerRoute {
                    route: route.clone(),
                    origin: origin(route_path),
                    fields,
                    identity: (parsed.source.clone(), index),
                });
            }
        }
        layer
    }
}

fn sourced<T>(parsed: &ParsedFile, path: FieldPath, value: T) -> Sourced<T> {
    Sourced {
        value,
        origin: Origin {
            source: parsed.source.clone(),
            line: parsed.line_of(&path),
        },
    }
}

/// A relative Dockerfile is anchored to the directory of the file that
/// names it (the build context), never to the working directory.
fn anchor(source: &Source, dockerfile: &str) -> PathBuf {
    let path = Path::new(dockerfile);
    match source {
        Source::File(file) if path.is_relative() => file
            .parent()
            .map(|directory| directory.join(path))
            .unwrap_or_else(|| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// Resolves bottles along one search path, memoising what it resolves.
#[derive(Debug)]
pub struct Resolver {
    search: SearchPath,
    parsed: HashMap<Source, Arc<ParsedFile>>,
    resolved: HashMap<Source, Arc<Layer>>,
    failed: HashMap<Source, Vec<Error>>,
    /// How many bottle layers were computed (cache misses), for tests and
    /// for `tracing`.
    layers_computed: usize,
}

/// A bottle being resolved: the name it was asked for by and its file.
type Frame = (String, Source);

impl Resolver {
    /// A resolver over `search`.
    pub fn new(search: SearchPath) -> Self {
        Self {
            search,
            parsed: HashMap::new(),
            resolved: HashMap::new(),
            failed: HashMap::new(),
            layers_computed: 0,
        }
    }

    /// The search path in use.
    pub fn search_path(&self) -> &SearchPath {
        &self.search
    }

    /// How many bottle layers this resolver has computed (memo misses). A
    /// diamond's shared ancestor counts once.
    pub fn layers_computed(&self) -> usize {
        self.layers_computed
    }

    /// Find bottle `name` along the search path and resolve it.
    pub fn resolve(&mut self, name: &str) -> Result<ResolvedBottle, Errors> {
        self.failed.clear();
        let found = self
            .search
            .find(name, None)?
            .ok_or_else(|| Error::NotFound {
                name: name.to_string(),
                searched: self.search.searched(),
            })?;
        self.resolve_found(name, found)
    }

    /// Resolve the bottle in `text`, read from `source`, as if it were
    /// named `name` (its parents are looked up along the search path).
    pub fn resolve_text(
        &mut self,
        name: &str,
        source: Source,
        text: &str,
    ) -> Result<ResolvedBottle, Errors> {
        self.failed.clear();
        self.resolve_found(
            name,
            Found {
                source,
                text: text.to_string().into(),
            },
        )
    }

    /// Check and resolve the bottle file at `path`, named by its file stem;
    /// its parents are looked for in its own directory first, then along
    /// the search path.
    pub fn check_file(search: &SearchPath, path: &Path) -> Result<ResolvedBottle, Errors> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::Read {
            path: path.to_path_buf(),
            source: Arc::new(error),
        })?;
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut resolver = Resolver::new(search.with_first(directory));
        resolver.resolve_text(&name, Source::File(path.to_path_buf()), &text)
    }

    fn resolve_found(&mut self, name: &str, found: Found) -> Result<ResolvedBottle, Errors> {
        let source = found.source.clone();
        let mut stack = Vec::new();
        let layer = self
            .resolve_layer(name, found, &mut stack)
            .map_err(|errors| Errors(deduplicate(errors)))?;
        let parsed = self.parsed.get(&source).cloned();
        let extends = parsed
            .as_ref()
            .and_then(|parsed| parsed.file.as_ref())
            .and_then(|file| file.extends.as_ref())
            .map(|extends| extends.names().into_iter().map(str::to_string).collect())
            .unwrap_or_default();
        finish(name, source, extends, &layer).map_err(Errors::from)
    }

    fn parse(&mut self, found: &Found) -> Arc<ParsedFile> {
        if let Some(parsed) = self.parsed.get(&found.source) {
            return parsed.clone();
        }
        let parsed = Arc::new(parse_manifest(found.source.clone(), &found.text));
        self.parsed.insert(found.source.clone(), parsed.clone());
        parsed
    }

    fn resolve_layer(
        &mut self,
        name: &str,
        found: Found,
        stack: &mut Vec<Frame>,
    ) -> Result<Arc<Layer>, Vec<Error>> {
        let source = found.source.clone();
        if let Some(layer) = self.resolved.get(&source) {
            return Ok(layer.clone());
        }
        if let Some(errors) = self.failed.get(&source) {
            return Err(errors.clone());
        }
        self.layers_computed += 1;
        let parsed = self.parse(&found);
        let mut errors = Vec::new();
        if !parsed.diagnostics.is_empty() {
            errors.push(Error::Invalid {
                file: source.clone(),
                diagnostics: Diagnostics(parsed.diagnostics.clone()),
            });
        }
        // An invalid file's parents are still resolved (from what could be
        // read of it), so that `manifest check` reports their problems too.
        let Some(file) = parsed.file.as_ref() else {
            return Err(errors);
        };
        stack.push((name.to_string(), source.clone()));
        let mut combined = Layer::default();
        let (names, many) = match &file.extends {
            None => (Vec::new(), false),
            Some(extends) => (extends.names(), matches!(extends, Extends::Many(_))),
        };
        for (index, parent) in names.iter().enumerate() {
            let extends_path = if many {
                FieldPath::root().key("extends").index(index)
            } else {
                FieldPath::root().key("extends")
            };
            let line = parsed.line_of(&extends_path);
            match self.resolve_parent(parent, &source, line, stack) {
                Ok(layer) => combined.overlay(&layer),
                Err(parent_errors) => errors.extend(parent_errors),
            }
        }
        stack.pop();
        if !errors.is_empty() {
            let errors = deduplicate(errors);
            self.failed.insert(source, errors.clone());
            return Err(errors);
        }
        combined.overlay(&Layer::of_file(&parsed, file));
        let layer = Arc::new(combined);
        self.resolved.insert(source, layer.clone());
        Ok(layer)
    }

    fn resolve_parent(
        &mut self,
        parent: &str,
        child: &Source,
        line: Option<usize>,
        stack: &mut Vec<Frame>,
    ) -> Result<Arc<Layer>, Vec<Error>> {
        let child_name = stack
            .last()
            .map(|(name, _)| name.clone())
            .unwrap_or_default();
        let chain_to = |stack: &[Frame]| {
            let mut names: Vec<String> = stack.iter().map(|(name, _)| name.clone()).collect();
            names.push(parent.to_string());
            Chain(names)
        };
        if stack.len() > MAX_EXTENDS_DEPTH {
            return Err(vec![Error::TooDeep {
                chain: chain_to(stack),
                file: child.clone(),
                line,
                limit: MAX_EXTENDS_DEPTH,
            }]);
        }
        // A bottle extending its own name means the next one of that name.
        let skip = (parent == child_name).then_some(child);
        let found = match self.search.find(parent, skip) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Err(vec![Error::MissingParent {
                    chain: chain_to(stack),
                    parent: parent.to_string(),
                    file: child.clone(),
                    line,
                    searched: self.search.searched(),
                }]);
            }
            Err(error) => return Err(vec![error]),
        };
        if let Some(position) = stack
            .iter()
            .position(|(_, source)| same_file(source, &found.source))
        {
            let mut names: Vec<String> = stack[position..]
                .iter()
                .map(|(name, _)| name.clone())
                .collect();
            names.push(parent.to_string());
            return Err(vec![Error::Cycle {
                chain: Chain(names),
                file: child.clone(),
                line,
            }]);
        }
        let chain = chain_to(stack);
        self.resolve_layer(parent, found, stack).map_err(|errors| {
            errors
                .into_iter()
                .map(|error| match error {
                    Error::Invalid { .. } => Error::InvalidParent {
                        chain: chain.clone(),
                        parent: parent.to_string(),
                        file: child.clone(),
                        line,
                        source: Box::new(error),
                    },
                    other => other,
                })
                .collect()
        })
    }
}

/// Drop repeats: the same message twice, or one invalid ancestor reached
/// along two paths of a diamond (reported once, with the first chain).
fn deduplicate(errors: Vec<Error>) -> Vec<Error> {
    let mut seen = std::collections::HashSet::new();
    errors
        .into_iter()
        .filter(|error| {
            let key = match innermost(error) {
                Error::Invalid { file, .. } => format!("invalid {file}"),
                _ => error.to_string(),
            };
            seen.insert(key)
        })
        .collect()
}

fn innermost(error: &Error) -> &Error {
    match error {
        Error::InvalidParent { source, .. } => innermost(source),
        other => other,
    }
}

/// Apply defaults, add provider routes, check what only the whole bottle
/// can show, and record provenance.
fn finish(
    name: &str,
    source: Source,
    extends: Vec<String>,
    layer: &Layer,
) -> Result<ResolvedBottle, Error> {
    let mut provenance = BTreeMap::new();
    let root = FieldPath::root();
    let mut record = |path: FieldPath, origin: Option<&Origin>| {
        if let Some(origin) = origin {
            provenance.insert(path, Provenance::Set(origin.clone()));
        }
    };
    record(
        root.key("description"),
        layer.description.as_ref().map(|value| &value.origin),
    );
    record(
        root.key("agent_provider"),
        layer.agent_provider.as_ref().map(|value| &value.origin),
    );
    record(
        root.key("supervise"),
        layer.supervise.as_ref().map(|value| &value.origin),
    );
    for (key, value) in &layer.env {
        record(root.key("env").key(key), Some(&value.origin));
    }
    let (image, dockerfile) = match layer
        .image
        .as_ref()
        .map(|image| (&image.value, &image.origin))
    {
        Some((AgentImage::Image(image), origin)) => {
            record(root.key("image"), Some(origin));
            (Some(image.clone()), None)
        }
        Some((AgentImage::Dockerfile(path), origin)) => {
            record(root.key("dockerfile"), Some(origin));
            (None, Some(path.clone()))
        }
        None => (None, None),
    };
    let gate = root.key("git-gate");
    record(
        gate.key("user").key("name"),
        layer.user_name.as_ref().map(|value| &value.origin),
    );
    record(
        gate.key("user").key("email"),
        layer.user_email.as_ref().map(|value| &value.origin),
    );
    let mut diagnostics = Vec::new();
    let mut repos = Vec::new();
    for (index, repo) in layer.repos.iter().enumerate() {
        let at = gate.key("repos").index(index);
        record(at.key("name"), Some(&repo.name.origin));
        record(
            at.key("upstream"),
            repo.upstream.as_ref().map(|value| &value.origin),
        );
        record(
            at.key("token_env"),
            repo.token_env.as_ref().map(|value| &value.origin),
        );
        record(
            at.key("deploy_key"),
            repo.deploy_key.as_ref().map(|value| &value.origin),
        );
        record(
            at.key("push").key("refs"),
            repo.push_refs.as_ref().map(|value| &value.origin),
        );
        record(
            at.key("push").key("force"),
            repo.push_force.as_ref().map(|value| &value.origin),
        );
        record(
            at.key("push").key("delete"),
            repo.push_delete.as_ref().map(|value| &value.origin),
        );
        let Some(upstream) = &repo.upstream else {
            diagnostics.push(Diagnostic {
                source: repo.name.origin.source.clone(),
                path: FieldPath::parse("git-gate.repos"),
                line: repo.name.origin.line,
                message: format!(
                    "repository `{}` has no `upstream` in this bottle or any parent",
                    repo.name.value
                ),
                hint: None,
            });
            continue;
        };
        if let (Some(token_env), Some(deploy_key)) = (&repo.token_env, &repo.deploy_key) {
            diagnostics.push(Diagnostic {
                source: deploy_key.origin.source.clone(),
                path: FieldPath::parse("git-gate.repos"),
                line: deploy_key.origin.line,
                message: format!(
                    "repository `{}` ends up with both `token_env` (from {}) and `deploy_key` (from {})",
                    repo.name.value, token_env.origin, deploy_key.origin
                ),
                hint: Some("a repository uses one credential: set the other to the one you want in the child".to_string()),
            });
        }
        repos.push(ResolvedRepo {
            name: repo.name.value.clone(),
            upstream: upstream.value.clone(),
            token_env: repo.token_env.as_ref().map(|value| value.value.clone()),
            deploy_key: repo.deploy_key.as_ref().map(|value| value.value.clone()),
            push: ResolvedPush {
                refs: repo
                    .push_refs
                    .as_ref()
                    .map(|value| value.value.clone())
                    .unwrap_or_default(),
                force: repo.push_force.as_ref().is_some_and(|value| value.value),
                delete: repo.push_delete.as_ref().is_some_and(|value| value.value),
            },
        });
    }
    if !diagnostics.is_empty() {
        return Err(Error::Invalid {
            file: source,
            diagnostics: Diagnostics(diagnostics),
        });
    }
    let egress = root.key("egress");
    record(
        egress.key("log"),
        layer.log.as_ref().map(|value| &value.origin),
    );
    record(
        egress.key("dlp").key("outbound_detectors"),
        layer.detectors.as_ref().map(|value| &value.origin),
    );
    let agent_provider = layer
        .agent_provider
        .as_ref()
        .map_or(AgentProvider::None, |value| value.value);
    let mut routes = Vec::new();
    if let Some(provider) = &layer.agent_provider {
        for route in provider_routes(provider.value) {
            provenance.insert(
                egress.key("routes").index(routes.len()),
                Provenance::Provider {
                    provider: provider.value,
                    origin: provider.origin.clone(),
                },
            );
            let mut resolved = ResolvedRoute::from_manifest(&route);
            resolved.provider = Some(provider.value);
            resolved.outbound_on_match =
                route.outbound_on_match.unwrap_or(DEFAULT_PROVIDER_ON_MATCH);
            routes.push(resolved);
        }
    }
    for route in &layer.routes {
        let at = egress.key("routes").index(routes.len());
        provenance.insert(at.clone(), Provenance::Set(route.origin.clone()));
        for (field, origin) in &route.fields {
            provenance.insert(at.key(field), Provenance::Set(origin.clone()));
        }
        if route.route.outbound_on_match.is_none() {
            provenance.insert(at.key("outbound_on_match"), Provenance::Default);
        }
        routes.push(ResolvedRoute::from_manifest(&route.route));
    }
    Ok(ResolvedBottle {
        name: name.to_string(),
        source,
        extends,
        description: layer.description.as_ref().map(|value| value.value.clone()),
        agent_provider,
        supervise: layer
            .supervise
            .as_ref()
            .map_or(DEFAULT_SUPERVISE, |value| value.value),
        env: layer
            .env
            .iter()
            .map(|(key, value)| (key.clone(), value.value.clone()))
            .collect(),
        image,
        dockerfile,
        git_gate: ResolvedGitGate {
            user: crate::model::GitUser {
                name: layer.user_name.as_ref().map(|value| value.value.clone()),
                email: layer.user_email.as_ref().map(|value| value.value.clone()),
            },
            repos,
        },
        egress: ResolvedEgress {
            log: layer
                .log
                .as_ref()
                .map_or(DEFAULT_EGRESS_LOG, |value| value.value),
            routes,
            dlp: ResolvedDlp {
                outbound_detectors: layer.detectors.as_ref().map_or_else(
                    || {
                        DEFAULT_DETECTORS
                            .iter()
                            .map(|name| name.to_string())
                            .collect()
                    },
                    |value| value.value.clone(),
                ),
            },
        },
        provenance,
    })
}
