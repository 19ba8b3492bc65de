//! Query parameter values converted as kube's query decoding does (Go's `strconv`), with Go's
//! error text. A leaf of `http::request`: `info` (list/watch options) and `delete_options`
//! (`gracePeriodSeconds`) both read integers through it.

use crate::apiserver::status::ApiError;

/// Go's `strconv.ParseInt` error text, which kube returns for malformed integer parameters.
pub fn parse_int(value: &str) -> Result<i64, ApiError> {
    value.parse::<i64>().map_err(|e| {
        let reason = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        ApiError::bad_request(format!(
            "strconv.ParseInt: parsing {}: {reason}",
            crate::apiserver::objects::quote_go(value)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_and_failures_carry_go_strconv_text() {
        assert_eq!(parse_int("-30").unwrap(), -30);
        let syntax = parse_int("ten").unwrap_err().to_string();
        assert!(
            syntax.contains("strconv.ParseInt: parsing \"ten\": invalid syntax"),
            "{syntax}"
        );
        let range = parse_int("99999999999999999999").unwrap_err().to_string();
        assert!(range.contains("value out of range"), "{range}");
    }
}
