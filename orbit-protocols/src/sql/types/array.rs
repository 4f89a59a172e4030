//! One-dimensional arrays of scalars (`integer[]`, `text[]`...): stored
//! as a JSON array of the element type's values (NULL elements as null),
//! read and written in PostgreSQL's text form (`{1,2,NULL}`,
//! `{"a b","q\"uote"}`), scanned by DataFusion as Arrow lists.

use crate::sql::error::Code;
use crate::sql::types::{Literal, SqlType, ValueError};
use serde_json::Value as Json;

/// The text form's elements: `None` for an unquoted NULL. Quoted elements
/// and backslash escapes follow `array_in`; a nested array, or dimension
/// decoration (`[1:2]={...}`), is refused.
pub(crate) fn parse(text: &str) -> Result<Vec<Option<String>>, ValueError> {
    let malformed = |why: &str| ValueError {
        code: Code::InvalidTextRepresentation,
        message: format!("malformed array literal: \"{text}\" ({why})"),
    };
    let body = text.trim();
    if body.starts_with('[') {
        return Err(ValueError {
            code: Code::FeatureNotSupported,
            message: "array dimension decorations are not supported by Orbit yet".into(),
        });
    }
    let Some(inner) = body.strip_prefix('{').and_then(|b| b.strip_suffix('}')) else {
        return Err(malformed("Array value must start with \"{\" or dimension information."));
    };
    let mut elements = Vec::new();
    if inner.trim().is_empty() {
        return Ok(elements);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut element = String::new();
        let mut quoted = false;
        match chars.peek() {
            Some('{') => {
                return Err(ValueError {
                    code: Code::FeatureNotSupported,
                    message: "multidimensional arrays are not supported by Orbit yet".into(),
                });
            }
            Some('"') => {
                quoted = true;
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err(malformed("Unexpected end of input.")),
                        Some('"') => break,
                        Some('\\') => {
                            element.push(chars.next().ok_or_else(|| malformed("Unexpected end of input."))?)
                        }
                        Some(c) => element.push(c),
                    }
                }
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' => break,
                        '"' | '{' | '}' => return Err(malformed("Unexpected array element.")),
                        '\\' => {
                            chars.next();
                            element.push(chars.next().ok_or_else(|| malformed("Unexpected end of input."))?);
                            continue;
                        }
                        c => element.push(c),
                    }
                    chars.next();
                }
                let trimmed = element.trim_end().len();
                element.truncate(trimmed);
                if element.is_empty() {
                    return Err(malformed("Unexpected \",\" character."));
                }
            }
        }
        elements.push((quoted || !element.eq_ignore_ascii_case("NULL")).then_some(element));
        match chars.next() {
            None => return Ok(elements),
            Some(',') => {}
            Some(_) => return Err(malformed("Expected \",\" or \"}\" character.")),
        }
    }
}

/// A literal as an array of `element` values (a JSON array).
pub(crate) fn coerce(element: SqlType, literal: &Literal) -> Result<Json, ValueError> {
    let text = match literal {
        Literal::Null => return Ok(Json::Null),
        Literal::String(text) => text,
        Literal::Number(n) => {
            return Err(ValueError {
                code: Code::InvalidTextRepresentation,
                message: format!("malformed array literal: \"{n}\" (Array value must start with \"{{\")"),
            });
        }
        Literal::Bool(b) => {
            return Err(ValueError {
                code: Code::InvalidTextRepresentation,
                message: format!("malformed array literal: \"{b}\" (Array value must start with \"{{\")"),
            });
        }
    };
    let mut values = Vec::new();
    for item in parse(text)? {
        values.push(match item {
            None => Json::Null,
            Some(item) => super::coerce(element, &Literal::String(item))?,
        });
    }
    Ok(Json::Array(values))
}

/// An array of `element` values in PostgreSQL's text form. An element is
/// quoted when it is empty, says NULL, or holds a space or one of
/// `{},"\`; quotes and backslashes inside are escaped.
pub(crate) fn format(element: SqlType, values: &[Json]) -> String {
    let mut out = String::from("{");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(text) = super::text_of(element, value) else {
            out.push_str("NULL");
            continue;
        };
        let quote = text.is_empty()
            || text.eq_ignore_ascii_case("NULL")
            || text.chars().any(|c| c.is_whitespace() || matches!(c, '{' | '}' | ',' | '"' | '\\'));
        if quote {
            out.push('"');
            for c in text.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(&text);
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(text: &str) -> Vec<Option<&'static str>> {
        parse(text).unwrap().into_iter().map(|e| e.map(|s| &*s.leak())).collect()
    }

    #[test]
    fn the_text_form_reads_as_postgresql_reads_it() {
        assert_eq!(parsed("{1,2,3}"), [Some("1"), Some("2"), Some("3")]);
        assert_eq!(parsed(" { a , b c } "), [Some("a"), Some("b c")]);
        assert_eq!(parsed("{NULL,\"NULL\",null}"), [None, Some("NULL"), None]);
        assert_eq!(parsed(r#"{"a,b","q\"x","",\\}"#), [Some("a,b"), Some("q\"x"), Some(""), Some("\\")]);
        assert!(parsed("{}").is_empty());
        for bad in ["1,2", "{1,,2}", "{1,2", "{\"a}", "{a\"b}", "{1 2}x"] {
            assert_eq!(parse(bad).unwrap_err().code, Code::InvalidTextRepresentation, "{bad}");
        }
        assert_eq!(parse("{{1},{2}}").unwrap_err().code, Code::FeatureNotSupported);
        assert_eq!(parse("[1:2]={1,2}").unwrap_err().code, Code::FeatureNotSupported);
    }

    #[test]
    fn elements_take_the_element_type() {
        let ints = coerce(SqlType::Int4, &Literal::String("{1, NULL, 3}".into())).unwrap();
        assert_eq!(ints, json!([1, null, 3]));
        assert_eq!(
            coerce(SqlType::Int4, &Literal::String("{1,x}".into())).unwrap_err().code,
            Code::InvalidTextRepresentation
        );
        assert_eq!(
            coerce(SqlType::Int2, &Literal::String("{70000}".into())).unwrap_err().code,
            Code::NumericValueOutOfRange
        );
        assert_eq!(
            coerce(SqlType::Int4, &Literal::Number("1".into())).unwrap_err().code,
            Code::InvalidTextRepresentation
        );
        assert_eq!(
            coerce(SqlType::Bool, &Literal::String("{t,false}".into())).unwrap(),
            json!([true, false])
        );
    }

    #[test]
    fn the_text_form_writes_as_postgresql_writes_it() {
        assert_eq!(format(SqlType::Int4, &[json!(1), Json::Null, json!(3)]), "{1,NULL,3}");
        let texts = [json!("a"), json!("b c"), json!(""), json!("NULL"), json!("q\"x\\"), json!("{}")];
        assert_eq!(format(SqlType::Text, &texts), r#"{a,"b c","","NULL","q\"x\\","{}"}"#);
        assert_eq!(format(SqlType::Bool, &[json!(true), json!(false)]), "{t,f}");
        assert_eq!(format(SqlType::Float8, &[json!(1.5), json!(2.0)]), "{1.5,2}");
        assert_eq!(format(SqlType::Text, &[]), "{}");
    }
}
