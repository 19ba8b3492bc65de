//! The crate's structure as a test: `src/` has no import cycle between files, and the layers
//! import only downward (the apps, controller, apiserver and MCP server, never import each
//! other; the shared modules below them import none of them; the apiserver's objects and
//! storage know nothing of HTTP). A refactor that breaks one of these fails here, naming the
//! files and the imports.
//!
//! The graph is file-level: a node is one `.rs` file (a `mod.rs` stands for its folder), an edge
//! is any path in that file (a `use` tree, an inline `crate::`/`super::`/`self::`/child-module
//! path, a path inside a macro invocation or attribute) that resolves into another file. A
//! `mod.rs` owning its descendants is containment, not a dependency, so owner → descendant edges
//! are left out. `src/main.rs` is a crate of its own (the binary) and is not part of the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// The apps `--app` runs: none imports another.
const APPS: &[&str] = &["controller", "apiserver", "mcp"];

/// The neutral modules the apps share (docs/architecture.md): they import no app.
const BELOW_THE_APPS: &[&str] = &[
    "api",
    "certs",
    "client_config",
    "coder",
    "lease",
    "shutdown",
    "telemetry",
    "tls",
];

/// The apiserver's layers below HTTP: they import nothing of [`HTTP_SIDE`].
const BELOW_HTTP: &[&str] = &[
    "apiserver::auth",
    "apiserver::objects",
    "apiserver::storage",
    "apiserver::coder",
    "apiserver::cluster",
    "apiserver::status",
    "apiserver::duration",
];

/// The apiserver's HTTP side, as module-path prefixes: everything under `src/apiserver/http/`.
const HTTP_SIDE: &[&str] = &["apiserver::http"];

/// A module path inside the crate, `[]` being the crate root (`lib.rs`).
type ModPath = Vec<String>;

/// One source file of the crate: its module path, its path for messages, its text.
struct SourceFile {
    module: ModPath,
    shown_as: String,
    text: String,
}

/// The file-level import graph.
struct ModuleGraph {
    shown_as: BTreeMap<ModPath, String>,
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

/// `a::b` from `["a", "b"]`.
fn module_path(text: &str) -> ModPath {
    text.split("::").map(str::to_owned).collect()
}

fn within(module: &[String], prefix: &[String]) -> bool {
    module.starts_with(prefix)
}

/// The module path of `relative` (a path below `src/`): `a/b.rs` is `a::b`, `a/mod.rs` is `a`,
/// `lib.rs` is the root.
fn module_of(relative: &Path) -> ModPath {
    let mut parts: ModPath = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") || parts == ["lib"] {
        parts.pop();
    }
    parts
}

/// Every `.rs` file below `root` except the binary's `main.rs`.
fn read_sources(root: &Path) -> Vec<SourceFile> {
    let mut sources = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries =
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("read {}: {e}", folder.display()));
        for entry in entries {
            let path = entry.expect("a directory entry of src/").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let relative = path.strip_prefix(root).expect("below src/");
            if path.extension().is_none_or(|ext| ext != "rs") || relative == Path::new("main.rs") {
                continue;
            }
            sources.push(SourceFile {
                module: module_of(relative),
                shown_as: format!("src/{}", relative.display()),
                text: std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
            });
        }
    }
    sources
}

/// The names of every `mod x;` and `mod x { }` anywhere in a file: a path starting with one of
/// them is a path into a child module.
#[derive(Default)]
struct ChildModules(BTreeSet<String>);

impl<'ast> Visit<'ast> for ChildModules {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.0.insert(item.ident.to_string());
        visit::visit_item_mod(self, item);
    }
}

/// Collects every path of a file that may name a module of this crate, with the module scope
/// (the file's module plus the inline `mod x { }` blocks around it) it appears in.
struct PathCollector<'a> {
    scope: ModPath,
    children: &'a BTreeSet<String>,
    found: Vec<(ModPath, ModPath)>,
}

impl PathCollector<'_> {
    fn may_name_our_module(&self, first: &str) -> bool {
        matches!(first, "crate" | "self" | "super" | "coder_k8s") || self.children.contains(first)
    }

    fn record(&mut self, path: ModPath) {
        if path
            .first()
            .is_some_and(|first| self.may_name_our_module(first))
        {
            self.found.push((self.scope.clone(), path));
        }
    }

    /// The leaves of a `use` tree, and each group's prefix (`use a::{b, c}` also names `a`).
    fn record_use_tree(&mut self, tree: &syn::UseTree, prefix: &mut ModPath) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.record_use_tree(&path.tree, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let mut leaf = prefix.clone();
                leaf.push(name.ident.to_string());
                self.record(leaf);
            }
            syn::UseTree::Rename(rename) => {
                let mut leaf = prefix.clone();
                leaf.push(rename.ident.to_string());
                self.record(leaf);
            }
            syn::UseTree::Glob(_) => self.record(prefix.clone()),
            syn::UseTree::Group(group) => {
                for item in &group.items {
                    self.record_use_tree(item, prefix);
                }
                if !prefix.is_empty() {
                    self.record(prefix.clone());
                }
            }
        }
    }

    /// Macro bodies and attribute arguments are tokens, not syntax: `a::b::c` sequences in them
    /// (at any nesting) count as paths too.
    fn record_token_paths(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let is_path_separator = |i: usize| {
            matches!((tokens.get(i), tokens.get(i + 1)),
                (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                    if a.as_char() == ':' && b.as_char() == ':')
        };
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => self.record_token_paths(group.stream()),
                TokenTree::Ident(first) if i < 2 || !is_path_separator(i - 2) => {
                    let mut path = vec![first.to_string()];
                    while is_path_separator(i + 1) {
                        let Some(TokenTree::Ident(next)) = tokens.get(i + 3) else {
                            break;
                        };
                        path.push(next.to_string());
                        i += 3;
                    }
                    if path.len() > 1 {
                        self.record(path);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for PathCollector<'_> {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        for attr in &item.attrs {
            self.visit_attribute(attr);
        }
        if let Some((_, items)) = &item.content {
            self.scope.push(item.ident.to_string());
            for inner in items {
                self.visit_item(inner);
            }
            self.scope.pop();
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if item.leading_colon.is_none() {
            self.record_use_tree(&item.tree, &mut Vec::new());
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        // A lone `self` or child name is a value or the module itself, never another file.
        if path.leading_colon.is_none() && path.segments.len() > 1 {
            self.record(
                path.segments
                    .iter()
                    .map(|segment| segment.ident.to_string())
                    .collect(),
            );
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.record_token_paths(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }

    fn visit_meta_list(&mut self, list: &'ast syn::MetaList) {
        self.record_token_paths(list.tokens.clone());
        visit::visit_meta_list(self, list);
    }
}

/// The file (module) `path`, seen from `scope`, names: the longest module prefix of its absolute
/// path that is a file; `None` for a path outside the crate.
fn resolve(
    scope: &[String],
    path: &[String],
    children: &BTreeSet<String>,
    files: &BTreeSet<ModPath>,
) -> Option<ModPath> {
    let (first, rest) = path.split_first()?;
    let mut absolute: ModPath = match first.as_str() {
        "crate" | "coder_k8s" => rest.to_vec(),
        "self" => [scope, rest].concat(),
        "super" => {
            let mut base = scope.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|segment| segment == "super") {
                base.pop();
                rest = &rest[1..];
            }
            [base.as_slice(), rest].concat()
        }
        child if children.contains(child) => [scope, path].concat(),
        _ => return None,
    };
    while !files.contains(&absolute) {
        absolute.pop()?;
    }
    Some(absolute)
}

impl ModuleGraph {
    fn build(sources: &[SourceFile]) -> ModuleGraph {
        let files: BTreeSet<ModPath> = sources.iter().map(|s| s.module.clone()).collect();
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for source in sources {
            let syntax = syn::parse_file(&source.text)
                .unwrap_or_else(|e| panic!("parse {}: {e}", source.shown_as));
            let mut children = ChildModules::default();
            children.visit_file(&syntax);
            let mut collector = PathCollector {
                scope: source.module.clone(),
                children: &children.0,
                found: Vec::new(),
            };
            collector.visit_file(&syntax);
            let targets = edges.entry(source.module.clone()).or_default();
            for (scope, path) in collector.found {
                let Some(target) = resolve(&scope, &path, &children.0, &files) else {
                    continue;
                };
                // Itself, or a descendant it owns: containment, not a dependency.
                if !within(&target, &source.module) {
                    targets.insert(target);
                }
            }
        }
        ModuleGraph {
            shown_as: sources
                .iter()
                .map(|s| (s.module.clone(), s.shown_as.clone()))
                .collect(),
            edges,
        }
    }

    fn show(&self, module: &ModPath) -> &str {
        &self.shown_as[module]
    }

    /// The strongly connected components of more than one file (Tarjan), each sorted.
    fn cycles(&self) -> Vec<Vec<ModPath>> {
        struct Tarjan<'g> {
            edges: &'g BTreeMap<ModPath, BTreeSet<ModPath>>,
            index: BTreeMap<&'g ModPath, usize>,
            low: BTreeMap<&'g ModPath, usize>,
            stack: Vec<&'g ModPath>,
            on_stack: BTreeSet<&'g ModPath>,
            components: Vec<Vec<ModPath>>,
        }
        impl<'g> Tarjan<'g> {
            fn connect(&mut self, v: &'g ModPath) {
                let n = self.index.len();
                self.index.insert(v, n);
                self.low.insert(v, n);
                self.stack.push(v);
                self.on_stack.insert(v);
                let edges = self.edges;
                for w in &edges[v] {
                    if !self.index.contains_key(w) {
                        self.connect(w);
                        let low = self.low[v].min(self.low[w]);
                        self.low.insert(v, low);
                    } else if self.on_stack.contains(w) {
                        let low = self.low[v].min(self.index[w]);
                        self.low.insert(v, low);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        component.push(w.clone());
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort();
                        self.components.push(component);
                    }
                }
            }
        }
        let mut tarjan = Tarjan {
            edges: &self.edges,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            components: Vec::new(),
        };
        for v in self.edges.keys() {
            if !tarjan.index.contains_key(v) {
                tarjan.connect(v);
            }
        }
        tarjan.components.sort();
        tarjan.components
    }

    /// Each cycle as its files and the edges inside it, for a failure message.
    fn describe_cycles(&self) -> String {
        let mut text = String::new();
        for component in self.cycles() {
            let files: Vec<&str> = component.iter().map(|m| self.show(m)).collect();
            text += &format!("cycle: {}\n", files.join(" <-> "));
            for from in &component {
                for to in self.edges[from].iter().filter(|to| component.contains(to)) {
                    text += &format!("    {} -> {}\n", self.show(from), self.show(to));
                }
            }
        }
        text
    }

    /// Edges from a file under one of `from` to a file under one of `to` (module-path prefixes),
    /// as `from-file -> to-file` lines.
    fn imports_between(&self, from: &[&str], to: &[&str]) -> Vec<String> {
        let from: Vec<ModPath> = from.iter().map(|p| module_path(p)).collect();
        let to: Vec<ModPath> = to.iter().map(|p| module_path(p)).collect();
        let mut found = Vec::new();
        for (source, targets) in &self.edges {
            if !from.iter().any(|prefix| within(source, prefix)) {
                continue;
            }
            for target in targets {
                if to.iter().any(|prefix| within(target, prefix)) {
                    found.push(format!("{} -> {}", self.show(source), self.show(target)));
                }
            }
        }
        found
    }
}

fn crate_graph() -> ModuleGraph {
    ModuleGraph::build(&read_sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    ))
}

#[test]
fn src_has_no_import_cycle_between_files() {
    let graph = crate_graph();
    // A broken walk would find no files and no cycle: make sure the graph is the crate.
    assert!(
        graph.edges.len() > 50 && graph.edges.contains_key(&module_path("controller")),
        "src/ was not read: {} files",
        graph.edges.len()
    );
    let cycles = graph.describe_cycles();
    assert!(
        cycles.is_empty(),
        "files of src/ that import each other (move the shared part into a file both import):\n{cycles}"
    );
}

#[test]
fn the_apps_never_import_each_other_nor_are_imported_by_the_modules_below_them() {
    let graph = crate_graph();
    let mut violations = Vec::new();
    for app in APPS {
        let others: Vec<&str> = APPS.iter().copied().filter(|other| other != app).collect();
        violations.extend(graph.imports_between(&[app], &others));
    }
    violations.extend(graph.imports_between(BELOW_THE_APPS, APPS));
    assert!(
        violations.is_empty(),
        "imports against the layering (the apps {APPS:?} are independent; {BELOW_THE_APPS:?} sit below all of them):\n{}",
        violations.join("\n")
    );
}

#[test]
fn apiserver_objects_and_storage_import_nothing_of_http() {
    let graph = crate_graph();
    let violations = graph.imports_between(BELOW_HTTP, HTTP_SIDE);
    assert!(
        violations.is_empty(),
        "{BELOW_HTTP:?} must not import the HTTP side {HTTP_SIDE:?}:\n{}",
        violations.join("\n")
    );
}

/// The analysis itself, on small made-up crates: it must see what the tests above rely on.
mod analysis {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        let sources: Vec<SourceFile> = files
            .iter()
            .map(|(path, text)| SourceFile {
                module: module_of(Path::new(path)),
                shown_as: format!("src/{path}"),
                text: (*text).to_owned(),
            })
            .collect();
        ModuleGraph::build(&sources)
    }

    fn edges_of(graph: &ModuleGraph, module: &str) -> Vec<String> {
        let module = if module.is_empty() {
            Vec::new()
        } else {
            module_path(module)
        };
        graph.edges[&module]
            .iter()
            .map(|m| graph.show(m).to_owned())
            .collect()
    }

    #[test]
    fn a_cycle_through_use_and_inline_paths_is_reported_with_its_edges() {
        let graph = graph(&[
            ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
            ("a.rs", "use crate::b::Thing;"),
            ("b.rs", "pub fn f() { super::c::g(); }"),
            ("c.rs", "pub fn g() { let _ = crate::a::X; }"),
        ]);
        assert_eq!(
            graph.cycles(),
            vec![vec![module_path("a"), module_path("b"), module_path("c")]]
        );
        let text = graph.describe_cycles();
        assert!(
            text.contains("cycle: src/a.rs <-> src/b.rs <-> src/c.rs"),
            "{text}"
        );
        for edge in [
            "src/a.rs -> src/b.rs",
            "src/b.rs -> src/c.rs",
            "src/c.rs -> src/a.rs",
        ] {
            assert!(text.contains(edge), "{edge} missing:\n{text}");
        }
    }

    #[test]
    fn a_mod_rs_owning_its_children_is_not_a_cycle() {
        let graph = graph(&[
            ("lib.rs", "pub mod x;"),
            ("x/mod.rs", "mod y; pub use y::Y; fn f() { self::y::g(); }"),
            ("x/y.rs", "use super::Shared; pub struct Y;"),
        ]);
        assert!(graph.cycles().is_empty(), "{}", graph.describe_cycles());
        assert!(edges_of(&graph, "x").is_empty());
        assert_eq!(edges_of(&graph, "x::y"), ["src/x/mod.rs"]);
    }

    #[test]
    fn inline_modules_groups_macros_and_attributes_resolve_from_their_scope() {
        let graph = graph(&[
            (
                "lib.rs",
                "pub mod p; pub mod q; pub mod r; pub mod s; pub mod t;",
            ),
            (
                "p.rs",
                r#"
                use crate::{q::{self, Q}, r as renamed};
                mod tests { use super::super::s::*; }
                fn f() { tracing::info!(value = ?crate::t::T, "x"); }
                #[serde(with = "ignored")] #[my_attr(crate::t::U)] struct V;
                "#,
            ),
            ("q.rs", ""),
            ("r.rs", ""),
            ("s.rs", ""),
            ("t.rs", ""),
        ]);
        assert_eq!(
            edges_of(&graph, "p"),
            ["src/lib.rs", "src/q.rs", "src/r.rs", "src/s.rs", "src/t.rs"]
        );
        // Paths to other crates and lone `self` make no edge.
        let graph = super::ModuleGraph::build(&[SourceFile {
            module: Vec::new(),
            shown_as: "src/lib.rs".into(),
            text: "use std::fmt; fn f(self) { serde_json::json!({}); }".into(),
        }]);
        assert!(edges_of(&graph, "").is_empty());
    }

    #[test]
    fn layer_rules_find_imports_by_module_prefix() {
        let graph = graph(&[
            (
                "lib.rs",
                "pub mod apiserver; pub mod controller; pub mod coder;",
            ),
            ("apiserver/mod.rs", "pub mod objects; pub mod http;"),
            ("apiserver/http/mod.rs", "pub mod router;"),
            (
                "apiserver/objects.rs",
                "use crate::apiserver::http::router::Route;",
            ),
            ("apiserver/http/router.rs", "use crate::coder::Client;"),
            ("controller.rs", "use crate::coder::Client;"),
            ("coder.rs", "fn f() { crate::controller::run(); }"),
        ]);
        assert_eq!(
            graph.imports_between(BELOW_HTTP, HTTP_SIDE),
            ["src/apiserver/objects.rs -> src/apiserver/http/router.rs"]
        );
        assert_eq!(
            graph.imports_between(BELOW_THE_APPS, APPS),
            ["src/coder.rs -> src/controller.rs"]
        );
        assert!(
            graph
                .imports_between(&["controller"], &["apiserver"])
                .is_empty()
        );
        // `coder` is the top-level module, not `apiserver::coder`.
        assert!(!within(
            &module_path("apiserver::coder"),
            &module_path("coder")
        ));
    }
}
