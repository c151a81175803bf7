//! Resolution does not depend on the order bottle files are written or read.
//!
//! A random graph of bottles (parents, cycles and missing parents included)
//! is written into two directories in two different orders, then every
//! bottle is resolved from each: with one shared resolver in two different
//! orders (so its memo holds different things each time) and with a fresh
//! resolver per bottle. Every outcome, values, provenance and error text,
//! must be the same.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use bot_bottle_manifest::{ResolvedBottle, Resolver, SearchPath};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Spec {
    parents: Vec<usize>,
    missing_parent: bool,
    env: Vec<(u8, u8)>,
    supervise: Option<bool>,
    route: bool,
    repo: Option<(u8, bool)>,
}

const BOTTLES: usize = 6;

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(0..BOTTLES, 0..3),
        prop::bool::weighted(0.1),
        prop::collection::vec((0..3_u8, 0..4_u8), 0..3),
        prop::option::of(any::<bool>()),
        any::<bool>(),
        prop::option::of((0..2_u8, any::<bool>())),
    )
        .prop_map(
            |(parents, missing_parent, env, supervise, route, repo)| Spec {
                parents,
                missing_parent,
                env,
                supervise,
                route,
                repo,
            },
        )
}

fn text(index: usize, spec: &Spec, allow_cycles: bool) -> String {
    let mut parents: Vec<String> = spec
        .parents
        .iter()
        // Without cycles, only lower-numbered parents (a DAG).
        .filter(|parent| allow_cycles || **parent < index)
        .map(|parent| format!("b{parent}"))
        .collect();
    parents.dedup();
    if spec.missing_parent {
        parents.push("missing".to_string());
    }
    let mut text = format!("extends: [{}]\n", parents.join(", "));
    if !spec.env.is_empty() {
        text.push_str("env:\n");
        let mut seen = Vec::new();
        for (key, value) in &spec.env {
            if !seen.contains(key) {
                seen.push(*key);
                text.push_str(&format!("  K{key}: v{index}_{value}\n"));
            }
        }
    }
    if let Some(supervise) = spec.supervise {
        text.push_str(&format!("supervise: {supervise}\n"));
    }
    if spec.route {
        text.push_str(&format!(
            "egress:\n  routes:\n    - host: h{index}.example\n"
        ));
    }
    if let Some((repo, force)) = spec.repo {
        text.push_str(&format!(
            "git-gate:\n  repos:\n    - name: r{repo}\n      upstream: https://forge.example/{index}/r{repo}.git\n      push: {{force: {force}}}\n"
        ));
    }
    text
}

fn outcome(
    result: Result<ResolvedBottle, bot_bottle_manifest::Errors>,
    dir: &std::path::Path,
) -> String {
    let text = match result {
        Ok(bottle) => format!(
            "{}\n{}",
            serde_json::to_string(&bottle).unwrap(),
            bottle.explain_text()
        ),
        Err(errors) => errors.to_string(),
    };
    text.replace(&dir.display().to_string(), "[DIR]")
}

fn write(order: &[usize], files: &[String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for &index in order {
        std::fs::write(dir.path().join(format!("b{index}.yaml")), &files[index]).unwrap();
    }
    dir
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn resolution_does_not_depend_on_read_order(
        specs in prop::collection::vec(spec(), BOTTLES),
        allow_cycles in any::<bool>(),
        order in Just((0..BOTTLES).collect::<Vec<_>>()).prop_shuffle(),
        resolve_order in Just((0..BOTTLES).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let files: Vec<String> = specs
            .iter()
            .enumerate()
            .map(|(index, spec)| text(index, spec, allow_cycles))
            .collect();
        let forward: Vec<usize> = (0..BOTTLES).collect();
        let first_dir = write(&forward, &files);
        let second_dir = write(&order, &files);
        let search = |dir: &tempfile::TempDir| SearchPath::new(vec![dir.path().to_path_buf()], false);

        // Fresh resolver per bottle, files written in index order.
        let fresh: Vec<String> = (0..BOTTLES)
            .map(|index| outcome(Resolver::new(search(&first_dir)).resolve(&format!("b{index}")), first_dir.path()))
            .collect();

        // One shared resolver, bottles resolved in a shuffled order, files
        // written in another shuffled order.
        let mut shared = Resolver::new(search(&second_dir));
        let mut memoised = vec![String::new(); BOTTLES];
        for &index in &resolve_order {
            memoised[index] = outcome(shared.resolve(&format!("b{index}")), second_dir.path());
        }
        // And once more in reverse, with everything already memoised.
        for &index in resolve_order.iter().rev() {
            let again = outcome(shared.resolve(&format!("b{index}")), second_dir.path());
            prop_assert_eq!(&again, &memoised[index]);
        }
        for index in 0..BOTTLES {
            prop_assert_eq!(&fresh[index], &memoised[index], "bottle b{}", index);
        }
    }
}
