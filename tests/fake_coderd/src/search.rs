//! coderd's search-query language for `?q=` (coderd/searchquery/search.go searchTerms,
//! splitQueryParameterByDelimiter) and its error wording (coderd/httpapi/queryparams.go).

/// A parsed query: (key, value) pairs in order, keys and values lowercased as coderd does.
pub type Terms = Vec<(String, String)>;

/// Splits on `delimiter` outside double quotes; quotes are kept or dropped.
fn split_outside_quotes(s: &str, delimiter: char, keep_quotes: bool) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && c == delimiter {
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    if !keep_quotes {
        for p in &mut parts {
            *p = p.trim_matches('"').to_string();
        }
    }
    parts
}

/// searchTerms: `key:value` elements separated by spaces; a bare element goes through
/// `bare` (which may add several pairs or refuse). Errors are validations on field `q`.
pub fn parse(
    query: &str,
    bare: impl Fn(&str, &mut Terms) -> Result<(), String>,
) -> Result<Terms, Vec<(String, String)>> {
    let query = query.to_lowercase();
    let mut terms = Terms::new();
    for element in split_outside_quotes(&query, ' ', true) {
        if element.starts_with(':') || element.ends_with(':') {
            return Err(vec![(
                "q".into(),
                format!("Query element {element:?} cannot start or end with ':'"),
            )]);
        }
        let parts = split_outside_quotes(&element, ':', false);
        match parts.as_slice() {
            [_] => bare(&element, &mut terms).map_err(|e| vec![("q".to_string(), e)])?,
            [k, v] => terms.push((k.clone(), v.clone())),
            _ => {
                return Err(vec![(
                    "q".into(),
                    format!("Query element {element:?} can only contain 1 ':'"),
                )]);
            }
        }
    }
    Ok(terms)
}

/// QueryParamParser.ErrorExcessParams.
pub fn excess(key: &str) -> (String, String) {
    (
        key.to_string(),
        format!("Query param {key:?} is not a valid query param"),
    )
}

/// ParseCustom's error.
pub fn invalid(key: &str, why: &str) -> (String, String) {
    (
        key.to_string(),
        format!("Query param {key:?} has invalid value: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_follow_search_terms() {
        let t = parse("Owner:Alice dev", |term, t| {
            t.push(("name".into(), term.into()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            t,
            vec![
                ("owner".into(), "alice".into()),
                ("name".into(), "dev".into())
            ]
        );
        assert!(parse("a:b:c", |_, _| Ok(())).is_err());
        assert!(parse("owner:", |_, _| Ok(())).is_err());
        let quoted = parse("template:\"my name\"", |_, _| Ok(())).unwrap();
        assert_eq!(quoted, vec![("template".into(), "my name".into())]);
    }
}
