//! A `git-gate:` section `bot-bottle manifest check` accepts must be one the
//! gate loads (`GateFile::from_model`): otherwise a bottle that checks clean
//! has a git-gate sidecar that refuses to start. The repo-name, upstream and
//! push-pattern rules live in the manifest crate and the gate calls them;
//! this draws repos good and bad and holds the two to each other.

use bot_bottle_gitgate::GateFile;
use bot_bottle_manifest::model::{BottleFile, GitGate, PushPolicy, Repo};
use proptest::prelude::*;

fn optional(values: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(proptest::sample::select(values).prop_map(str::to_string))
}

fn repos() -> impl Strategy<Value = Repo> {
    (
        proptest::sample::select(
            &["app", "my.lib", "-x", ".hidden", "..", "app.git", "a b", ""][..],
        ),
        optional(&[
            "https://f.example/o/a.git",
            "http://f.example/a.git",
            "ssh://git@f.example/o/a.git",
            "git@f.example:o/a.git",
            "git://f.example/a.git",
            "file:///srv/a.git",
            "/srv/a.git",
            "ftp://f.example/a.git",
            "ext::sh",
            "-upload-pack=evil",
            "https://",
            "relative/path",
            "https://f.example/a b",
        ]),
        optional(&["EGRESS_TOKEN_F", "lower", ""]),
        optional(&["/keys/app", "", "keys\napp"]),
        proptest::option::of(proptest::collection::vec(
            proptest::sample::select(
                &[
                    "refs/heads/agent/*",
                    "refs/heads/[agent",
                    "refs/heads/{a,b}",
                    "refs/tags/v*",
                    "heads/x",
                    "refs/heads/a\\*",
                ][..],
            )
            .prop_map(str::to_string),
            0..3,
        )),
    )
        .prop_map(|(name, upstream, token_env, deploy_key, refs)| Repo {
            name: name.to_string(),
            upstream,
            token_env,
            deploy_key,
            push: refs.map(|refs| PushPolicy {
                refs: Some(refs),
                ..PushPolicy::default()
            }),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn every_git_gate_section_manifest_check_accepts_loads_in_the_gate(repo in repos()) {
        let section = GitGate { repos: vec![repo.clone()], ..GitGate::default() };
        let file = BottleFile { git_gate: Some(section.clone()), ..BottleFile::default() };
        // A repo's upstream may come from a bottle it extends; the gate
        // needs the resolved one, so only complete repos are compared.
        if repo.upstream.is_some() && bot_bottle_manifest::validate::validate(&file).is_empty() {
            let loaded = GateFile::from_model(&section);
            prop_assert!(loaded.is_ok(), "manifest check accepts {repo:?}, the gate refuses it: {:?}", loaded.err());
        }
    }
}
