//! Reading a browse: `GET {base}/api/qracore/browses?browseId=…&page=…&pageSize=…&pageAction=…`
//! with repeated `filter=field,op,value,literal` parameters, page after
//! page until `auxillaryData.HasMoreParams` (a string, QAD's spelling) is
//! `"false"`. A missing flag ends the read (QAD answers an unknown browse or
//! missing paging parameters with 200 and no rows), and so does a page with
//! no rows, so a server that always says `"true"` cannot loop forever.

use serde_json::Value;

use crate::sources::qad::client::QadClient;
use crate::sources::qad::error::PollError;

/// Most pages one read takes, whatever the server says.
pub const MAX_PAGES: u32 = 10_000;

/// A browse filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Contains.
    Cn,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less or equal.
    Le,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Sw => "sw",
            Op::Ew => "ew",
            Op::Cn => "cn",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
}

/// One `filter` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `field,op,value,literal`.
    Compare {
        /// The browse field.
        field: String,
        /// The operator.
        op: Op,
        /// The value.
        value: String,
    },
    /// `field,rg,from,literal,to,literal`.
    Range {
        /// The browse field.
        field: String,
        /// Lower bound.
        from: String,
        /// Upper bound.
        to: String,
    },
}

impl Filter {
    /// `field op value`.
    pub fn compare(field: &str, op: Op, value: &str) -> Filter {
        Filter::Compare { field: field.to_owned(), op, value: value.to_owned() }
    }

    /// The parameter's value.
    pub fn param(&self) -> String {
        match self {
            Filter::Compare { field, op, value } => format!("{field},{},{value},literal", op.as_str()),
            Filter::Range { field, from, to } => format!("{field},rg,{from},literal,{to},literal"),
        }
    }
}

/// The query of page `page` (1-based).
pub fn page_query(browse: &str, filters: &[Filter], page: u32, page_size: u32, action: &str) -> Vec<(String, String)> {
    let mut query = vec![
        ("browseId".to_owned(), browse.to_owned()),
        ("page".to_owned(), page.to_string()),
        ("pageSize".to_owned(), page_size.to_string()),
        ("pageAction".to_owned(), action.to_owned()),
    ];
    query.extend(filters.iter().map(|f| ("filter".to_owned(), f.param())));
    query
}

/// Whether the answer says another page follows.
pub fn has_more(answer: &Value) -> bool {
    answer["auxillaryData"]["HasMoreParams"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// Every row of `browse` matching `filters`, in the order QAD lists them.
pub async fn read_all(client: &QadClient, browse: &str, filters: &[Filter]) -> Result<Vec<Value>, PollError> {
    let config = client.config();
    let mut rows = Vec::new();
    for page in 1..=MAX_PAGES {
        let action = if page == 1 { &config.first_page_action } else { &config.next_page_action };
        let query = page_query(browse, filters, page, config.page_size, action);
        let what = format!("browse {browse} page {page}");
        let answer = client.get_json("api/qracore/browses", &query, &what).await?;
        let data = match &answer["data"] {
            Value::Array(data) => data.clone(),
            Value::Null => Vec::new(),
            _ => return client.note(Err(PollError::broken(format!("{what}: `data` is not a list")))),
        };
        let empty = data.is_empty();
        rows.extend(data);
        if empty || !has_more(&answer) {
            return Ok(rows);
        }
    }
    Err(PollError::broken(format!("browse {browse}: more than {MAX_PAGES} pages; raise page_size")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn filters_are_written_as_qad_expects() {
        assert_eq!(Filter::compare("po_mstr.po_mod_date", Op::Ge, "2026-11-01").param(), "po_mstr.po_mod_date,ge,2026-11-01,literal");
        let range = Filter::Range { field: "f".into(), from: "a".into(), to: "b".into() };
        assert_eq!(range.param(), "f,rg,a,literal,b,literal");
    }

    #[test]
    fn the_page_query_carries_the_required_paging_parameters_and_repeated_filters() {
        let filters = [Filter::compare("a", Op::Eq, "1"), Filter::compare("b", Op::Cn, "x")];
        let q = page_query("urn:browse:mfg:po803", &filters, 2, 50, "next");
        let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [("browseId", "urn:browse:mfg:po803"), ("page", "2"), ("pageSize", "50"), ("pageAction", "next"), ("filter", "a,eq,1,literal"), ("filter", "b,cn,x,literal")]
        );
    }

    #[test]
    fn has_more_params_is_a_string_and_anything_else_ends_the_read() {
        assert!(has_more(&json!({"auxillaryData": {"HasMoreParams": "true"}})));
        assert!(!has_more(&json!({"auxillaryData": {"HasMoreParams": "false"}})));
        assert!(!has_more(&json!({"auxillaryData": {"HasMoreParams": true}})), "a boolean is not QAD's form");
        assert!(!has_more(&json!({"data": []})));
    }
}
