//! Turning JSON names into Rust identifiers, the same way every time.

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Splits `camelCase`, `PascalCase`, `snake_case`, `kebab-case` and `dotted.names` into words.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let boundary = c.is_ascii_uppercase()
            && !current.is_empty()
            && (chars[i - 1].is_ascii_lowercase()
                || chars[i - 1].is_ascii_digit()
                // The last capital of an acronym starts a new word: "TLSConfig" → TLS, Config.
                || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()));
        if boundary {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `autoShutdown` → `AutoShutdown`, `ClusterIP` → `ClusterIp`, `9x` → `V9x`.
pub fn pascal_case(name: &str) -> String {
    let mut out = String::new();
    for word in words(name) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `autoShutdown` → `auto_shutdown`; the text of an identifier, before keyword escaping.
pub fn snake_ident_text(name: &str) -> String {
    let mut out = words(name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A field identifier: snake case, raw (`r#type`) where it is a keyword.
pub fn field_ident(name: &str) -> proc_macro2::Ident {
    let text = snake_ident_text(name);
    if matches!(text.as_str(), "self" | "Self" | "super" | "crate") {
        proc_macro2::Ident::new(&format!("{text}_"), proc_macro2::Span::call_site())
    } else if RUST_KEYWORDS.contains(&text.as_str()) {
        proc_macro2::Ident::new_raw(&text, proc_macro2::Span::call_site())
    } else {
        proc_macro2::Ident::new(&text, proc_macro2::Span::call_site())
    }
}

pub fn type_ident(name: &str) -> proc_macro2::Ident {
    proc_macro2::Ident::new(name, proc_macro2::Span::call_site())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_splits_camel_acronyms_and_separators() {
        assert_eq!(pascal_case("autoShutdown"), "AutoShutdown");
        assert_eq!(pascal_case("ClusterIP"), "ClusterIp");
        assert_eq!(pascal_case("TLSConfig"), "TlsConfig");
        assert_eq!(pascal_case("node-port"), "NodePort");
        assert_eq!(pascal_case("9lives"), "V9lives");
        assert_eq!(pascal_case(""), "V");
    }

    #[test]
    fn field_idents_are_snake_case_and_escape_keywords() {
        assert_eq!(field_ident("autoShutdown").to_string(), "auto_shutdown");
        assert_eq!(field_ident("type").to_string(), "r#type");
        assert_eq!(field_ident("self").to_string(), "self_");
        assert_eq!(field_ident("envFrom").to_string(), "env_from");
        assert_eq!(field_ident("x-kubernetes").to_string(), "x_kubernetes");
    }
}
